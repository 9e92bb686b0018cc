//! The partition-queue calls into librdkafka: every `unsafe` block of the Kafka source is here.

use super::connect::KafkaConsumer;
use rdkafka::bindings as kafka_c;
use rdkafka::consumer::Consumer;
use std::ffi::CString;
use std::ptr::NonNull;

/// One partition's own queue of fetched messages, split off the consumer's queue so that its
/// messages are taken a batch per call (`rd_kafka_consume_batch_queue`), not one poll each.
pub(super) struct PartitionQueue(NonNull<kafka_c::rd_kafka_queue_t>);

/// Messages taken from a partition queue per call at most.
pub(super) const CONSUME_BATCH: usize = 1024;

impl PartitionQueue {
    /// Splits `partition`'s messages off the consumer's queue. Called before the partition is
    /// assigned, so no message of it reaches the consumer's queue first.
    pub(super) fn split(
        consumer: &KafkaConsumer,
        topic: &str,
        partition: i32,
    ) -> Option<PartitionQueue> {
        let topic = CString::new(topic).ok()?;
        let client = consumer.client().native_ptr();
        // SAFETY: `client` is the live consumer's handle; librdkafka copies the topic name.
        let queue =
            unsafe { kafka_c::rd_kafka_queue_get_partition(client, topic.as_ptr(), partition) };
        let queue = NonNull::new(queue)?;
        // SAFETY: `queue` is a valid handle; forwarding to null stops it feeding the
        // consumer's queue, so its messages wait here.
        unsafe { kafka_c::rd_kafka_queue_forward(queue.as_ptr(), std::ptr::null_mut()) };
        Some(PartitionQueue(queue))
    }

    /// Takes up to `messages.len()` waiting messages without blocking; returns how many.
    /// The caller owns each one and wraps it in a [`TakenMessage`], which destroys it.
    pub(super) fn take(&self, messages: &mut [*mut kafka_c::rd_kafka_message_t]) -> usize {
        // SAFETY: the queue is valid and `messages` has room for as many pointers as we say.
        let taken = unsafe {
            kafka_c::rd_kafka_consume_batch_queue(
                self.0.as_ptr(),
                0,
                messages.as_mut_ptr(),
                messages.len(),
            )
        };
        usize::try_from(taken).unwrap_or(0)
    }
}

impl Drop for PartitionQueue {
    fn drop(&mut self) {
        // SAFETY: the handle is valid and dropped once; `KafkaPartitions` drops its queues
        // before its consumer.
        unsafe { kafka_c::rd_kafka_queue_destroy(self.0.as_ptr()) }
    }
}

/// A fetched message taken from a partition queue, destroyed when dropped.
pub(super) struct TakenMessage(pub(super) NonNull<kafka_c::rd_kafka_message_t>);

impl TakenMessage {
    pub(super) fn fields(&self) -> &kafka_c::rd_kafka_message_t {
        // SAFETY: librdkafka handed the message over and it lives until `drop`.
        unsafe { self.0.as_ref() }
    }

    pub(super) fn payload(&self) -> &[u8] {
        let message = self.fields();
        if message.payload.is_null() {
            return &[];
        }
        // SAFETY: librdkafka guarantees `len` bytes at `payload` while the message lives.
        unsafe { std::slice::from_raw_parts(message.payload.cast::<u8>(), message.len) }
    }

    pub(super) fn error(&self) -> Option<String> {
        let code = self.fields().err;
        (code != kafka_c::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR).then(|| {
            // SAFETY: a plain call into librdkafka with a code it reported.
            let text = unsafe { kafka_c::rd_kafka_err2str(code) };
            // SAFETY: librdkafka returns a static, NUL-terminated description for any code.
            unsafe { std::ffi::CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned()
        })
    }
}

impl Drop for TakenMessage {
    fn drop(&mut self) {
        // SAFETY: the message was taken from a queue and is destroyed once.
        unsafe { kafka_c::rd_kafka_message_destroy(self.0.as_ptr()) }
    }
}
