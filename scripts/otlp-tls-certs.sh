#!/usr/bin/env bash
# scripts/otlp-tls-certs.sh DIR — a private CA and certificates for trying OTLP over TLS locally
# (used by core/tests/otlp_tls; needs only the `openssl` command, EC P-256 keys, valid 2 days).
#
# Writes into DIR:
#   ca.pem ca.key              the private CA (give ca.pem as OTEL_EXPORTER_OTLP_CERTIFICATE)
#   server.pem server.key      the receiver's certificate for 127.0.0.1 and localhost, signed by the CA
#   client.pem client.key      a client certificate signed by the CA (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE
#                              / OTEL_EXPORTER_OTLP_CLIENT_KEY, for receivers that require mutual TLS)
#   other-ca.pem other-ca.key  an unrelated CA: trusting it instead of ca.pem must make every export fail
set -euo pipefail

dir="${1:?usage: $0 DIR}"
mkdir -p "$dir"
cd "$dir"
days=2
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() {  # name subject
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days "$days" -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$1.pem" 2>/dev/null
}

leaf() {  # name subject extensions
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days "$days" \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

ca ca "kafka-trace test CA"
ca other-ca "kafka-trace unrelated CA"
leaf server "localhost" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
leaf client "kafka-trace test client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
rm -f ca.srl
openssl verify -CAfile ca.pem server.pem client.pem >/dev/null
echo "$dir: ca.pem server.pem/.key client.pem/.key other-ca.pem"
