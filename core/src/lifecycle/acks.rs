//! Per-message acknowledgements from clients that acknowledge a whole request per partition.
//!
//! KafkaJS answers a `send`/`sendBatch` with one `{ partition, baseOffset }` per topic-partition;
//! the messages of one partition got consecutive offsets from `baseOffset`, in the order they
//! were sent. This is the one place that turns such an answer into each message's
//! [`super::SendResult::Acked`] partition and offset.

/// The `(partition, offset)` each message of one topic was acknowledged at, in message order;
/// `-1` where it cannot be known.
///
/// `chosen[i]` is the partition the caller chose for message `i` (`-1` = left to the
/// partitioner); `responses` are the client's `(partition, base_offset)` answers for this topic
/// (`base_offset < 0` = not reported, e.g. `acks=0`).
///
/// A message's partition is known when the caller chose it, or when the whole topic went to a
/// single partition. Its offset is `base_offset` + its index among this request's messages to
/// that partition, which is exact only when every message of the topic has a known partition
/// (otherwise a message the partitioner placed may sit between them: the offset is `-1`).
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::batch_acks;
///
/// // Three messages left to the partitioner, all answered by partition 2 from offset 40.
/// assert_eq!(batch_acks(&[-1, -1, -1], &[(2, 40)]), [(2, 40), (2, 41), (2, 42)]);
/// // Chosen partitions count per partition.
/// assert_eq!(batch_acks(&[0, 1, 0], &[(0, 10), (1, 7)]), [(0, 10), (1, 7), (0, 11)]);
/// // The partitioner spread messages over two partitions: nothing certain.
/// assert_eq!(batch_acks(&[-1, 0], &[(0, 5), (1, 3)]), [(-1, -1), (0, -1)]);
/// ```
pub fn batch_acks(chosen: &[i32], responses: &[(i32, i64)]) -> Vec<(i32, i64)> {
    let single = match responses {
        [only] => Some(only.0),
        _ => None,
    };
    let partition_of = |c: i32| if c >= 0 { c } else { single.unwrap_or(-1) };
    let all_known = chosen.iter().all(|c| partition_of(*c) >= 0);
    let mut next: Vec<(i32, i64)> = Vec::with_capacity(responses.len());
    chosen
        .iter()
        .map(|c| {
            let partition = partition_of(*c);
            let Some(base) = responses.iter().find(|r| r.0 == partition).map(|r| r.1) else {
                // No answer for that partition: nothing is known of this message's ack.
                return (-1, -1);
            };
            let index = match next.iter_mut().find(|(p, _)| *p == partition) {
                Some(slot) => {
                    slot.1 += 1;
                    slot.1
                }
                None => {
                    next.push((partition, 0));
                    0
                }
            };
            let offset = if all_known && base >= 0 { base + index } else { -1 };
            (partition, offset)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::batch_acks;

    #[test]
    fn one_partition_gives_consecutive_offsets() {
        assert_eq!(batch_acks(&[-1, -1, -1], &[(2, 40)]), vec![(2, 40), (2, 41), (2, 42)]);
    }

    #[test]
    fn chosen_partitions_count_per_partition() {
        assert_eq!(
            batch_acks(&[0, 1, 0, 1, 1], &[(0, 10), (1, 7)]),
            vec![(0, 10), (1, 7), (0, 11), (1, 8), (1, 9)]
        );
    }

    #[test]
    fn partitioner_spread_leaves_unknowns_unknown() {
        // Two answers and messages the partitioner placed: neither their partition nor any
        // offset of the topic is certain (a placed message may sit between chosen ones).
        assert_eq!(batch_acks(&[-1, 0, -1], &[(0, 5), (1, 3)]), vec![(-1, -1), (0, -1), (-1, -1)]);
    }

    #[test]
    fn unreported_offsets_and_missing_answers() {
        assert_eq!(batch_acks(&[-1, -1], &[(3, -1)]), vec![(3, -1), (3, -1)]);
        assert_eq!(batch_acks(&[4], &[(0, 1), (1, 1)]), vec![(-1, -1)]);
        assert_eq!(batch_acks(&[], &[(0, 1)]), vec![]);
    }
}
