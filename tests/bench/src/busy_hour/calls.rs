//! The hour's calls: generated contacts with Contact Lens transcripts of a few minutes, each
//! with its VoiceCall, and what real-time delivery got into Salesforce.

use emulators::{ContactSpec, World, generated_contacts};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::scenario::INSTANCE_ID;

/// A few minutes of talk: 1 to 3 Contact Lens pages of 100 segments.
const MIN_SEGMENTS: usize = 50;
const MAX_SEGMENTS: usize = 250;
/// One turn in this many is dropped from a call with gaps (and its middle turn always).
const DROPPED_ONE_IN: u64 = 10;

/// The fixture's DISCONNECTED event, whose ids are replaced per call.
const EVENT: &str = include_str!("../../../fixtures/events/contact-disconnected.json");
const EVENT_CONTACT: &str = "faaa3a21-5990-48cd-a035-e85ca8c861ff";
const EVENT_INSTANCE: &str = "11111111-2222-4333-8444-555555555555";
const EVENT_TIME: &str = "2026-11-24T09:59:59Z";
const EVENT_DISCONNECT: &str = "2026-11-24T09:59:58.000Z";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Complete,
    Gaps,
    Nothing,
}

pub struct Call {
    pub contact_id: String,
    /// Segment ids: what the conversation must hold once repaired.
    pub segment_ids: Vec<String>,
    pub delivery: Delivery,
}

impl Call {
    /// The DISCONNECTED event EventBridge puts in the queue for this call, which ends `now`:
    /// the function measures a call's age from the event's `time`.
    pub fn event(&self, now: OffsetDateTime) -> String {
        let time = |format: &[BorrowedFormatItem<'_>]| now.format(format).unwrap_or_default();
        EVENT
            .replace(EVENT_CONTACT, &self.contact_id)
            .replace(EVENT_INSTANCE, INSTANCE_ID)
            .replace(
                EVENT_TIME,
                &time(format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
                )),
            )
            .replace(
                EVENT_DISCONNECT,
                &time(format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                )),
            )
    }
}

/// A deterministic draw in [0, 1) for (`seed`, `a`, `b`).
fn draw(seed: u64, a: u64, b: u64) -> f64 {
    let mut z =
        seed ^ a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
}

/// Adds `n` calls to `world`: contact, VoiceCall and real-time delivery, a share with gaps and
/// a share with nothing delivered.
pub fn add_calls(
    world: &World,
    n: usize,
    seed: u64,
    gap_share: f64,
    undelivered_share: f64,
) -> Vec<Call> {
    generated_contacts(n, MAX_SEGMENTS, seed)
        .into_iter()
        .enumerate()
        .map(|(i, contact)| {
            let i = i as u64;
            let span = (MAX_SEGMENTS - MIN_SEGMENTS + 1) as f64;
            let segments = MIN_SEGMENTS + (draw(seed, i, 1) * span) as usize;
            let contact = shortened(contact, segments);
            let kind = draw(seed, i, 2);
            let delivery = if kind < undelivered_share {
                Delivery::Nothing
            } else if kind < undelivered_share + gap_share {
                Delivery::Gaps
            } else {
                Delivery::Complete
            };
            world.add_contact(contact.clone());
            world.add_voice_call(
                &contact.voice_call_id,
                Some(&contact.contact_id),
                contact.initiation_ms,
                contact.disconnect_ms,
            );
            let middle = segments / 2;
            match delivery {
                Delivery::Complete => world.deliver_realtime(&contact.contact_id, |_| true),
                Delivery::Gaps => world.deliver_realtime(&contact.contact_id, |turn| {
                    turn != middle
                        && draw(seed ^ 0x5eed, i, turn as u64) * DROPPED_ONE_IN as f64 >= 1.0
                }),
                Delivery::Nothing => {}
            }
            Call {
                contact_id: contact.contact_id,
                segment_ids: contact.segments.into_iter().map(|s| s.id).collect(),
                delivery,
            }
        })
        .collect()
}

/// The contact with its first `segments` turns only, ending 5 s after the last.
fn shortened(mut contact: ContactSpec, segments: usize) -> ContactSpec {
    contact.segments.truncate(segments);
    let talk = contact.segments.last().map_or(0, |s| s.end_offset_millis);
    contact.disconnect_ms = contact
        .connected_to_agent_ms
        .map(|connected| connected + talk + 5_000);
    contact
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_a_few_minutes_and_mostly_complete() {
        let world = World::new(INSTANCE_ID);
        let calls = add_calls(&world, 200, 7, 0.10, 0.02);
        let sizes = calls.iter().map(|c| c.segment_ids.len());
        assert!(
            sizes
                .clone()
                .all(|n| (MIN_SEGMENTS..=MAX_SEGMENTS).contains(&n))
        );
        let count = |d| calls.iter().filter(|c| c.delivery == d).count();
        assert!(
            (10..=30).contains(&count(Delivery::Gaps)),
            "{}",
            count(Delivery::Gaps)
        );
        assert!(count(Delivery::Nothing) <= 10);
        for call in &calls {
            let held = world.conversation_entries(&call.contact_id).len();
            match call.delivery {
                Delivery::Complete => assert_eq!(held, call.segment_ids.len()),
                Delivery::Gaps => assert!(held > 0 && held < call.segment_ids.len()),
                Delivery::Nothing => assert_eq!(held, 0),
            }
        }
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_796_000_000_123_000_000).unwrap();
        let event: serde_json::Value = serde_json::from_str(&calls[0].event(at)).unwrap();
        assert_eq!(event["detail"]["contactId"], calls[0].contact_id.as_str());
        assert!(
            event["detail"]["instanceArn"]
                .as_str()
                .unwrap()
                .ends_with(INSTANCE_ID)
        );
        assert_eq!(event["time"], "2026-11-30T00:53:20Z");
        assert_eq!(
            event["detail"]["disconnectTimestamp"],
            "2026-11-30T00:53:20.123Z"
        );
    }
}
