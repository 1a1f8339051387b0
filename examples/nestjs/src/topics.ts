// Topic names and the Kafka connection, shared by the three services.
export const prefix = process.env.TOPIC_PREFIX ?? '';
export const ORDER_CREATED = `${prefix}order.created`;
export const ORDER_SHIPPED = `${prefix}order.shipped`;
/** Request-reply (`@MessagePattern`): nest1 asks nest2 for a quote; Nest replies on `<topic>.reply`. */
export const ORDER_QUOTE = `${prefix}order.quote`;
export const groupPrefix = process.env.GROUP_PREFIX ?? '';
export const brokers = (process.env.KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092').split(',');

/** Creates the topics a service consumes (the broker from scripts/kafka.sh has no auto-create guarantee). */
export async function ensureTopics(topics: string[]): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Kafka, logLevel } = require('kafkajs');
  const admin = new Kafka({ clientId: 'setup', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing: string[] = await admin.listTopics();
    const missing = topics.filter((t) => !existing.includes(t));
    if (missing.length) await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}
