//! The repair queue as Lambda's SQS event source mapping sees it: messages visible after their
//! delay, received in batches (each receive counts and hides the message for the visibility
//! timeout), deleted when the function does not list them in `batchItemFailures`, and moved to
//! the dead-letter queue when received once more after the last allowed receive.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};
use tokio::time::Instant;

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:ContactDataSync-AutoRepair";

pub struct Message {
    pub contact_id: String,
    body: String,
    /// The SQS event's `messageAttributes` (a deferral's `deferrals` count).
    attributes: Value,
    receives: u32,
    visible_at: Instant,
    sent_ms: i64,
    first_received_ms: Option<i64>,
}

pub struct Queue {
    messages: HashMap<String, Message>,
    /// (visible from, message id): the next visible message first.
    schedule: BTreeSet<(Instant, String)>,
    next_id: u64,
    visibility_timeout: std::time::Duration,
    max_receives: u32,
    /// The contacts of dead-lettered messages.
    pub dead: Vec<String>,
}

impl Queue {
    pub fn new(visibility_timeout: std::time::Duration, max_receives: u32) -> Queue {
        Queue {
            messages: HashMap::new(),
            schedule: BTreeSet::new(),
            next_id: 0,
            visibility_timeout,
            max_receives,
            dead: Vec::new(),
        }
    }

    /// SendMessage: visible `at` (now plus its delay), never received yet.
    pub fn send(&mut self, contact_id: &str, body: String, attributes: Value, at: Instant) {
        self.next_id += 1;
        let id = format!("message-{:06}", self.next_id);
        self.schedule.insert((at, id.clone()));
        self.messages.insert(
            id,
            Message {
                contact_id: contact_id.to_owned(),
                body,
                attributes,
                receives: 0,
                visible_at: at,
                sent_ms: wall_clock_ms(),
                first_received_ms: None,
            },
        );
    }

    /// How many messages are visible at `now`, counting up to `cap`.
    pub fn visible(&self, now: Instant, cap: usize) -> usize {
        self.schedule
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(cap)
            .count()
    }

    /// Receives up to `max` visible messages as SQS event records, oldest visible first; a
    /// message already received `max_receives` times goes to the dead-letter queue instead.
    pub fn receive(&mut self, now: Instant, max: usize) -> Vec<(String, Value)> {
        let mut batch = Vec::new();
        while batch.len() < max {
            let Some((at, id)) = self.schedule.first().cloned() else {
                break;
            };
            if at > now {
                break;
            }
            self.schedule.remove(&(at, id.clone()));
            let message = self
                .messages
                .get_mut(&id)
                .expect("scheduled messages exist");
            if message.receives >= self.max_receives {
                let dead = self.messages.remove(&id).expect("just found");
                self.dead.push(dead.contact_id);
                continue;
            }
            message.receives += 1;
            message.visible_at = now + self.visibility_timeout;
            let first = *message.first_received_ms.get_or_insert_with(wall_clock_ms);
            self.schedule.insert((message.visible_at, id.clone()));
            let record = json!({
                "messageId": id,
                "receiptHandle": format!("{id}-{}", message.receives),
                "body": message.body,
                "attributes": {
                    "ApproximateReceiveCount": message.receives.to_string(),
                    "SentTimestamp": message.sent_ms.to_string(),
                    "SenderId": "AIDAEVENTBRIDGE",
                    "ApproximateFirstReceiveTimestamp": first.to_string(),
                },
                "messageAttributes": message.attributes,
                // Not checked by the function.
                "md5OfBody": "00000000000000000000000000000000",
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
                "awsRegion": "us-east-1",
            });
            batch.push((id, record));
        }
        batch
    }

    /// DeleteMessage; returns the message, or None when it is gone already.
    pub fn delete(&mut self, id: &str) -> Option<Message> {
        let message = self.messages.remove(id)?;
        self.schedule.remove(&(message.visible_at, id.to_owned()));
        Some(message)
    }

    /// Every message still in the queue, visible or not.
    pub fn waiting(&self) -> impl Iterator<Item = &Message> {
        self.messages.values()
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn failed_messages_come_back_after_the_visibility_timeout_until_dead_lettered() {
        let mut queue = Queue::new(Duration::from_secs(90), 2);
        let now = Instant::now();
        queue.send("c1", "b1".into(), json!({}), now + Duration::from_secs(10));
        queue.send("c2", "b2".into(), json!({}), now);
        assert_eq!(queue.visible(now, 10), 1);
        let batch = queue.receive(now + Duration::from_secs(10), 10);
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].1["body"], "b2", "the earlier visible first");
        assert_eq!(batch[1].1["attributes"]["ApproximateReceiveCount"], "1");
        assert!(queue.delete(&batch[0].0).is_some());
        let later = now + Duration::from_secs(10);
        assert!(queue.receive(later, 10).is_empty(), "hidden while received");
        let again = queue.receive(later + Duration::from_secs(90), 10);
        assert_eq!(again[0].1["attributes"]["ApproximateReceiveCount"], "2");
        assert!(
            queue
                .receive(later + Duration::from_secs(180), 10)
                .is_empty()
        );
        assert_eq!(queue.dead, ["c1"]);
        assert_eq!(queue.waiting().count(), 0);
    }
}
