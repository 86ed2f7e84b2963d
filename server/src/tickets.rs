//! One-time tickets: what `GetFlightInfo` prepared (a command's result, or a planned
//! query), held until one `DoGet` takes it or its time runs out.
//!
//! A management command runs exactly once, in `GetFlightInfo`; its result waits here.
//! `DoGet` hands it out once: a second `DoGet` with the same ticket is refused (it
//! does not run the command again), and so is one after the time limit or by another
//! caller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
use datafusion_export::tables::Clock;
use uuid::Uuid;

use crate::error::{Result, ServerError};

/// What a ticket stands for.
pub(crate) enum Payload {
    /// A query, planned and checked, that runs when its `DoGet` comes.
    Query(DataFrame),
    /// The result of a statement that already ran.
    Result(Vec<RecordBatch>),
}

/// A ticket's content: the schema promised in `FlightInfo`, and the payload.
pub(crate) struct Held {
    pub(crate) schema: SchemaRef,
    pub(crate) payload: Payload,
}

struct Slot {
    owner: String,
    expires: DateTime<Utc>,
    /// `None` once taken: kept until it expires, to tell a replay from a typo.
    held: Option<Held>,
}

/// Tickets waiting for their `DoGet`.
pub(crate) struct TicketStore {
    slots: Mutex<HashMap<Uuid, Slot>>,
    ttl: chrono::Duration,
    max: usize,
    clock: Arc<dyn Clock>,
}

/// The first bytes of every ticket this server issues, so that anything else is
/// recognised as malformed rather than looked up.
const MAGIC: &[u8] = b"dfx-ticket-1:";

impl TicketStore {
    pub(crate) fn new(ttl: std::time::Duration, max: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            slots: Mutex::default(),
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
            max: max.max(1),
            clock,
        }
    }

    /// Holds `held` for `owner` and returns the ticket bytes.
    pub(crate) fn put(&self, owner: &str, held: Held) -> Result<Vec<u8>> {
        let now = self.clock.now();
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.len() >= self.max {
            slots.retain(|_, s| s.expires > now);
            if slots.len() >= self.max {
                return Err(ServerError::ResourceExhausted(format!(
                    "{} results are waiting for their DoGet; read or let them expire first",
                    self.max
                )));
            }
        }
        let id = Uuid::new_v4();
        slots.insert(
            id,
            Slot {
                owner: owner.to_string(),
                expires: now
                    .checked_add_signed(self.ttl)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
                held: Some(held),
            },
        );
        let mut ticket = MAGIC.to_vec();
        ticket.extend_from_slice(id.as_bytes());
        Ok(ticket)
    }

    /// Takes what `ticket` holds, once.
    pub(crate) fn take(&self, ticket: &[u8], owner: &str) -> Result<Held> {
        let id = ticket
            .strip_prefix(MAGIC)
            .and_then(|id| Uuid::from_slice(id).ok())
            .ok_or_else(|| {
                ServerError::InvalidArgument(
                    "malformed ticket: not one this server issued; call GetFlightInfo for a \
                     new one"
                        .into(),
                )
            })?;
        let now = self.clock.now();
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let gone = || {
            ServerError::NotFound(
                "unknown or expired ticket: results wait for their DoGet a limited time; run \
                 the statement again"
                    .into(),
            )
        };
        // Another caller's ticket reads as unknown: tickets are not transferable.
        let slot = slots
            .get_mut(&id)
            .filter(|s| s.owner == owner)
            .ok_or_else(gone)?;
        if slot.expires <= now {
            slots.remove(&id);
            return Err(gone());
        }
        slot.held.take().ok_or_else(|| {
            ServerError::NotFound(
                "this ticket was already used: a statement's result is read once (a command \
                 is never run again by DoGet); run the statement again"
                    .into(),
            )
        })
    }
}

/// Open prepared statements: their text, checked when created and again when run.
///
/// Clients that die without closing theirs would otherwise fill the store for good: a
/// statement unused for the idle limit is dropped, the next time one is created.
pub(crate) struct PreparedStore {
    statements: Mutex<HashMap<Uuid, Prepared>>,
    max: usize,
    idle: chrono::Duration,
    clock: Arc<dyn Clock>,
}

struct Prepared {
    owner: String,
    text: String,
    last_used: DateTime<Utc>,
}

impl PreparedStore {
    pub(crate) fn new(max: usize, idle: std::time::Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            statements: Mutex::default(),
            max: max.max(1),
            idle: chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::MAX),
            clock,
        }
    }

    fn idle_since(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now.checked_sub_signed(self.idle)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Keeps `text` for `owner`; returns the handle.
    pub(crate) fn create(&self, owner: &str, text: String) -> Result<Vec<u8>> {
        let now = self.clock.now();
        let mut statements = self.statements.lock().unwrap_or_else(|p| p.into_inner());
        if statements.len() >= self.max {
            let since = self.idle_since(now);
            statements.retain(|_, p| p.last_used > since);
        }
        if statements.len() >= self.max {
            return Err(ServerError::ResourceExhausted(format!(
                "{} prepared statements are open; close some first",
                self.max
            )));
        }
        let id = Uuid::new_v4();
        statements.insert(
            id,
            Prepared {
                owner: owner.to_string(),
                text,
                last_used: now,
            },
        );
        Ok(id.as_bytes().to_vec())
    }

    /// The text of an open prepared statement; using it keeps it open.
    pub(crate) fn get(&self, handle: &[u8], owner: &str) -> Result<String> {
        let id = handle_id(handle)?;
        let now = self.clock.now();
        let since = self.idle_since(now);
        let mut statements = self.statements.lock().unwrap_or_else(|p| p.into_inner());
        match statements.get_mut(&id).filter(|p| p.owner == owner) {
            Some(p) if p.last_used > since => {
                p.last_used = now;
                Ok(p.text.clone())
            }
            Some(_) => {
                statements.remove(&id);
                Err(unknown_handle())
            }
            None => Err(unknown_handle()),
        }
    }

    /// Closes a prepared statement.
    pub(crate) fn close(&self, handle: &[u8], owner: &str) -> Result<()> {
        let id = handle_id(handle)?;
        let mut statements = self.statements.lock().unwrap_or_else(|p| p.into_inner());
        match statements.get(&id) {
            Some(p) if p.owner == owner => {
                statements.remove(&id);
                Ok(())
            }
            _ => Err(unknown_handle()),
        }
    }
}

fn handle_id(handle: &[u8]) -> Result<Uuid> {
    Uuid::from_slice(handle)
        .map_err(|_| ServerError::InvalidArgument("malformed prepared statement handle".into()))
}

fn unknown_handle() -> ServerError {
    ServerError::NotFound(
        "unknown, closed or expired prepared statement (unused ones are dropped after a \
         while): prepare it again"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Schema;
    use datafusion_export::tables::ManualClock;

    fn held() -> Held {
        Held {
            schema: Arc::new(Schema::empty()),
            payload: Payload::Result(vec![]),
        }
    }

    #[test]
    fn a_ticket_is_taken_once_by_its_owner_before_it_expires() {
        let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
        let store = TicketStore::new(std::time::Duration::from_secs(60), 2, clock.clone());
        let t = store.put("alice", held()).unwrap();
        assert!(store.take(&t, "bob").is_err());
        assert!(store.take(&t, "alice").is_ok());
        let again = store.take(&t, "alice").err().unwrap().to_string();
        assert!(again.contains("already used"), "{again}");
        assert!(store
            .take(b"junk", "alice")
            .err()
            .unwrap()
            .to_string()
            .contains("malformed"));

        let t = store.put("alice", held()).unwrap();
        // Full (the used ticket is kept as a tombstone until it expires).
        assert!(matches!(
            store.put("alice", held()),
            Err(ServerError::ResourceExhausted(_))
        ));
        clock.advance(chrono::Duration::seconds(61));
        assert!(store
            .take(&t, "alice")
            .err()
            .unwrap()
            .to_string()
            .contains("expired"));
        assert!(store.put("alice", held()).is_ok());
    }

    #[test]
    fn an_unused_prepared_statement_expires_and_a_used_one_stays() {
        let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
        let store = PreparedStore::new(2, std::time::Duration::from_secs(3600), clock.clone());
        let used = store.create("alice", "SELECT 1".into()).unwrap();
        let idle = store.create("alice", "SELECT 2".into()).unwrap();
        assert!(store.get(&used, "bob").is_err(), "not another caller's");
        assert!(matches!(
            store.create("alice", "SELECT 3".into()),
            Err(ServerError::ResourceExhausted(_))
        ));
        clock.advance(chrono::Duration::minutes(40));
        assert_eq!(store.get(&used, "alice").unwrap(), "SELECT 1");
        clock.advance(chrono::Duration::minutes(40));
        // 80 minutes unused: gone; the one used 40 minutes ago stays.
        let expired = store.get(&idle, "alice").unwrap_err().to_string();
        assert!(expired.contains("expired"), "{expired}");
        assert_eq!(store.get(&used, "alice").unwrap(), "SELECT 1");
        assert!(store.create("alice", "SELECT 3".into()).is_ok());
        store.close(&used, "alice").unwrap();
        assert!(store.get(&used, "alice").is_err());
    }
}
