//! The `kafka-trace` command line.
//!
//! - `demo`: three services in one process (web → orders → worker → shipments → shipper) on an
//!   embedded mock Kafka cluster (or a real one), then every trace printed as a tree.
//! - `inspect`: reads a topic and reports the trace context of each message, like kcat for
//!   `traceparent`/`tracestate`/`baggage`.
//! - `headers-demo` and `decode`: what the core reads from header lists and what a forwarding
//!   producer writes, without any broker.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

mod demo;
mod headers;
mod inspect;
mod kafka;
mod tree;

#[derive(Parser)]
#[command(name = "kafka-trace", version, about = "W3C trace context for Apache Kafka headers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run three traced services (web → orders → worker → shipments → shipper) and print each
    /// trace as a tree. Starts an embedded mock Kafka cluster unless a bootstrap is given.
    Demo(DemoArgs),
    /// Read a topic and show the trace context of every message, then a summary.
    Inspect(InspectArgs),
    /// Decode and re-encode a set of sample Kafka header lists (no broker needed).
    HeadersDemo,
    /// Decode headers given as NAME=VALUE and show what a forwarding producer would write.
    Decode {
        /// A header, e.g. `traceparent=00-4bf9...-01`; repeat for several (order is kept).
        #[arg(long = "header", short = 'H', value_name = "NAME=VALUE")]
        headers: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Options of `kafka-trace demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Number of requests (one trace each).
    #[arg(long, short = 'n', default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub messages: u32,
    /// Kafka bootstrap servers (else env KAFKA_BOOTSTRAP; else an embedded mock cluster).
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// Use the embedded mock cluster even when KAFKA_BOOTSTRAP is set.
    #[arg(long, conflicts_with = "bootstrap")]
    pub mock: bool,
    /// Topic the web service produces to.
    #[arg(long, default_value = "orders")]
    pub orders_topic: String,
    /// Topic the worker forwards to.
    #[arg(long, default_value = "shipments")]
    pub shipments_topic: String,
    /// Seconds to wait for the broker to answer, and for any progress while messages flow.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Print the traces as one JSON document instead of trees.
    #[arg(long)]
    pub json: bool,
}

impl DemoArgs {
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }

    /// `--bootstrap`, else `KAFKA_BOOTSTRAP`, else `None` (the embedded mock cluster).
    fn bootstrap(&self) -> Option<String> {
        if self.mock {
            return None;
        }
        self.bootstrap.clone().or_else(env_bootstrap)
    }
}

fn env_bootstrap() -> Option<String> {
    std::env::var("KAFKA_BOOTSTRAP").ok().filter(|s| !s.trim().is_empty())
}

/// Options of `kafka-trace inspect`.
#[derive(Args, Debug, Clone)]
pub struct InspectArgs {
    /// Kafka bootstrap servers (else env KAFKA_BOOTSTRAP).
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// The topic to read (all partitions).
    #[arg(long, short = 't')]
    pub topic: String,
    /// Start at the oldest message of each partition (default: only new messages).
    #[arg(long)]
    pub from_beginning: bool,
    /// Stop after this many messages.
    #[arg(long, short = 'n')]
    pub limit: Option<u64>,
    /// Print one JSON document (messages and summary) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Stop when no message arrived for this many seconds (also bounds the broker connection).
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
}

impl InspectArgs {
    fn bootstrap(&self) -> Result<String, String> {
        self.bootstrap.clone().or_else(env_bootstrap).ok_or_else(|| "no bootstrap servers: pass --bootstrap HOST:PORT or set KAFKA_BOOTSTRAP".to_owned())
    }

    fn timeout(&self) -> Result<Duration, String> {
        Duration::try_from_secs_f64(self.timeout).ok().filter(|d| !d.is_zero()).ok_or_else(|| format!("--timeout {} is not a positive number of seconds", self.timeout))
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Demo(args) => report(demo::run(&args)),
        Command::Inspect(args) => report(inspect::run(&args)),
        Command::HeadersDemo => headers::run_demo(),
        Command::Decode { headers, json } => headers::run_decode(&headers, json),
    }
}

fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kafka-trace: error: {message}");
            ExitCode::FAILURE
        }
    }
}
