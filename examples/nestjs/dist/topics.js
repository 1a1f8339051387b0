"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.brokers = exports.ORDER_SHIPPED = exports.ORDER_CREATED = exports.prefix = void 0;
exports.ensureTopics = ensureTopics;
// Topic names and the Kafka connection, shared by the three services.
exports.prefix = process.env.TOPIC_PREFIX ?? '';
exports.ORDER_CREATED = `${exports.prefix}order.created`;
exports.ORDER_SHIPPED = `${exports.prefix}order.shipped`;
exports.brokers = (process.env.KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092').split(',');
/** Creates the topics a service consumes (the broker from scripts/kafka.sh has no auto-create guarantee). */
async function ensureTopics(topics) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Kafka, logLevel } = require('kafkajs');
    const admin = new Kafka({ clientId: 'setup', brokers: exports.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
        const existing = await admin.listTopics();
        const missing = topics.filter((t) => !existing.includes(t));
        if (missing.length)
            await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
    }
    finally {
        await admin.disconnect();
    }
}
