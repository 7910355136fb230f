//! One sender's connection: the handshake (with a shared key), then message after message:
//! decoded, its events published, its refused parts kept as dead letters, and its chunk
//! acknowledged once the bus holds its events.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kestrel_bus::{DeadLetterStore, Publisher};
use kestrel_event::{event_id, DeadLetter, Event, RecordPosition};
use rmpv::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::frame::complete_len;
use super::handshake::{pong_refused, Handshake, Secrets};
use super::mapping::{record_event, Origin, FORWARD_SOURCE};
use super::protocol::{decode_message, encode, options_of, Entry, Message};
use crate::acceptance::{keep_dead_letters, publish_acknowledged};
use crate::enrich::{enrich_all, Enrichers};
use crate::redact::{Redaction, Source};

/// Longest wait for the `PING` after the `HELO`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes of an oversized or undecodable stream kept in its dead letter.
const MAX_DEAD_LETTER_BYTES: usize = 64 * 1024;
/// Bytes asked of the socket per read.
const READ_SIZE: usize = 64 * 1024;
/// Longest wait, once per container, for the enrichers to learn about a container their cache
/// does not know yet (the Docker API watcher looks it up on the miss): a container's first
/// lines arrive as it starts. Short, because Docker's driver gives up on an ack after a few
/// seconds.
const ENRICHMENT_WAIT: Duration = Duration::from_secs(1);

/// What every connection shares.
pub struct Shared {
    /// Where events go.
    pub publisher: Publisher,
    /// Where refused messages and entries go.
    pub dead_letters: DeadLetterStore,
    /// Metadata added to events (the Docker API's, when enabled).
    pub enrichers: Enrichers,
    /// `host.name` of events, and the server's name in the handshake.
    pub host_name: String,
    /// The shared key and users, when senders must prove they know it.
    pub secrets: Option<Secrets>,
    /// Largest message, in bytes.
    pub max_chunk_bytes: usize,
    /// Secrets replaced before events and dead letters are kept.
    pub redaction: Redaction,
    /// Containers already waited for (see `ENRICHMENT_WAIT`).
    pub waited: std::sync::Mutex<HashSet<String>>,
}

/// What the reader found next in the stream.
enum Frame {
    /// One whole msgpack value and its bytes.
    Value(Value, Vec<u8>),
    /// The stream ended (with this many bytes of an unfinished message).
    End(usize),
    /// The stream is not msgpack, or a message is over the limit: the connection cannot go
    /// on.
    Broken { reason: String, raw: Vec<u8> },
}

/// Reads whole msgpack values off a stream.
struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    max: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    async fn next(&mut self) -> std::io::Result<Frame> {
        loop {
            match complete_len(&self.buf) {
                Ok(Some(len)) if len > self.max => {}
                Ok(Some(len)) => {
                    let raw: Vec<u8> = self.buf.drain(..len).collect();
                    return Ok(match rmpv::decode::read_value(&mut raw.as_slice()) {
                        Ok(value) => Frame::Value(value, raw),
                        Err(e) => Frame::Broken {
                            reason: format!("not msgpack: {e}"),
                            raw: truncated(raw),
                        },
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    return Ok(Frame::Broken {
                        reason: format!("not msgpack: {e}"),
                        raw: truncated(std::mem::take(&mut self.buf)),
                    })
                }
            }
            if self.buf.len() > self.max {
                // Over the limit, whole or not.
                return Ok(Frame::Broken {
                    reason: format!(
                        "message over {} bytes (collector.forward.max_chunk_bytes); first {} bytes kept",
                        self.max,
                        self.buf.len().min(MAX_DEAD_LETTER_BYTES)
                    ),
                    raw: truncated(std::mem::take(&mut self.buf)),
                });
            }
            self.buf.reserve(READ_SIZE);
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return Ok(Frame::End(self.buf.len()));
            }
        }
    }
}

fn truncated(mut raw: Vec<u8>) -> Vec<u8> {
    raw.truncate(MAX_DEAD_LETTER_BYTES);
    raw
}

/// Serves one connection until the sender leaves, the stream breaks, a chunk cannot be
/// stored, or `shutdown` turns true.
pub async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut reader = FrameReader {
        inner: read,
        buf: Vec::new(),
        max: shared.max_chunk_bytes,
    };
    if let Some(secrets) = &shared.secrets {
        if !handshake(&mut reader, &mut write, peer, &shared, secrets).await {
            return;
        }
    }
    loop {
        let frame = tokio::select! {
            frame = reader.next() => frame,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let (value, raw) = match frame {
            Ok(Frame::Value(value, raw)) => (value, raw),
            Ok(Frame::End(0)) => return,
            Ok(Frame::End(left)) => {
                tracing::info!(%peer, bytes = left, "forward sender left in the middle of a message");
                return;
            }
            Ok(Frame::Broken { reason, raw }) => {
                metrics::counter!("kestrel_collector_forward_rejected_total").increment(1);
                tracing::warn!(%peer, %reason, "forward stream refused, closing the connection");
                let letter = letter(format!("forward stream from {peer}: {reason}"), raw);
                let _ = keep_dead_letters(
                    FORWARD_SOURCE,
                    (&shared.redaction, Source::Forward),
                    &shared.dead_letters,
                    vec![letter],
                )
                .await;
                return;
            }
            Err(error) => {
                tracing::debug!(%peer, %error, "forward connection ended");
                return;
            }
        };
        metrics::counter!("kestrel_collector_forward_messages_total").increment(1);
        let Some(chunk) = process(value, raw, peer, &shared).await else {
            // Not stored: no answer, the connection closes and the sender sends again.
            return;
        };
        if let Some(chunk) = chunk {
            let ack = Value::Map(vec![("ack".into(), chunk.into())]);
            if write.write_all(&encode(&ack)).await.is_err() || write.flush().await.is_err() {
                return;
            }
            metrics::counter!("kestrel_collector_forward_acks_total").increment(1);
        }
    }
}

/// HELO, PING, PONG; whether the sender may go on.
async fn handshake<R, W>(
    reader: &mut FrameReader<R>,
    write: &mut W,
    peer: SocketAddr,
    shared: &Shared,
    secrets: &Secrets,
) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let handshake = match Handshake::new() {
        Ok(handshake) => handshake,
        Err(error) => {
            tracing::error!(%peer, %error, "no randomness for the forward handshake");
            return false;
        }
    };
    if write
        .write_all(&encode(&handshake.helo(secrets)))
        .await
        .is_err()
    {
        return false;
    }
    let ping = match tokio::time::timeout(HANDSHAKE_TIMEOUT, reader.next()).await {
        Ok(Ok(Frame::Value(ping, _))) => ping,
        Ok(Ok(Frame::Broken { reason, .. })) => {
            refuse(write, peer, &format!("PING is not msgpack: {reason}")).await;
            return false;
        }
        Ok(_) => return false,
        Err(_) => {
            refuse(write, peer, "no PING in time").await;
            return false;
        }
    };
    match handshake.check_ping(&ping, secrets) {
        Ok(accepted) => {
            let pong = handshake.pong_accepted(&accepted, &shared.host_name, secrets);
            tracing::debug!(%peer, client = %accepted.client_hostname, user = ?accepted.username, "forward sender authenticated");
            write.write_all(&encode(&pong)).await.is_ok() && write.flush().await.is_ok()
        }
        Err(reason) => {
            refuse(write, peer, &reason).await;
            false
        }
    }
}

async fn refuse<W: AsyncWrite + Unpin>(write: &mut W, peer: SocketAddr, reason: &str) {
    metrics::counter!("kestrel_collector_forward_auth_failures_total").increment(1);
    tracing::warn!(%peer, %reason, "forward handshake refused");
    let _ = write.write_all(&encode(&pong_refused(reason))).await;
    let _ = write.flush().await;
}

fn letter(error: String, raw: Vec<u8>) -> DeadLetter {
    DeadLetter {
        source: FORWARD_SOURCE.to_owned(),
        line: None,
        offset: None,
        error,
        raw,
        received: chrono::Utc::now(),
    }
}

/// Handles one message: `None` when it could not be stored (no ack), else the chunk to
/// acknowledge, if the sender asked for one.
async fn process(
    value: Value,
    raw: Vec<u8>,
    peer: SocketAddr,
    shared: &Shared,
) -> Option<Option<String>> {
    let requested = options_of(&value).and_then(|o| o.chunk);
    let (events, letters, chunk) = match decode_message(value, shared.max_chunk_bytes) {
        Ok(message) => {
            let chunk = message.options.chunk.clone();
            let (events, letters) = split(message, peer, shared);
            (events, letters, chunk)
        }
        Err(error) => {
            let error = format!("forward message from {peer}: {error}");
            (Vec::new(), vec![letter(error, raw)], requested)
        }
    };
    if !letters.is_empty() {
        metrics::counter!("kestrel_collector_forward_rejected_total")
            .increment(letters.len() as u64);
        tracing::warn!(%peer, count = letters.len(), first = %letters[0].error, "forward records refused");
    }
    keep_dead_letters(
        FORWARD_SOURCE,
        (&shared.redaction, Source::Forward),
        &shared.dead_letters,
        letters,
    )
    .await
    .ok()?;
    let mut events = events;
    wait_for_enrichment(&mut events, shared).await;
    let count = events.len() as u64;
    // A message whose every part was refused is stored once its dead letters are.
    if !events.is_empty() {
        publish(events, chunk.is_some(), peer, shared).await?;
    }
    metrics::counter!("kestrel_collector_forward_events_total").increment(count);
    Some(chunk)
}

/// Gives the enrichers a moment to learn about containers they did not know (once per
/// container and connection), then enriches the events of those containers again.
async fn wait_for_enrichment(events: &mut [Event], shared: &Shared) {
    if shared.enrichers.is_empty() {
        return;
    }
    let unknown = |event: &Event| {
        event
            .container
            .as_ref()
            .filter(|c| c.image.is_none())
            .and_then(|c| c.id.clone())
    };
    let index = {
        let mut waited = shared
            .waited
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = events.iter().enumerate().find_map(|(i, e)| {
            unknown(e)
                .filter(|id| !waited.contains(id))
                .map(|id| (i, id))
        });
        let Some((index, id)) = first else {
            return;
        };
        waited.insert(id);
        index
    };
    let deadline = tokio::time::Instant::now() + ENRICHMENT_WAIT;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut probe = events[index].clone();
        enrich_all(&shared.enrichers, &mut probe);
        if unknown(&probe).is_none() {
            break;
        }
    }
    for event in events.iter_mut().filter(|e| unknown(e).is_some()) {
        enrich_all(&shared.enrichers, event);
    }
}

/// Hands events to the bus; with `acknowledged`, waits until the bus has made them durable.
async fn publish(
    events: Vec<Event>,
    acknowledged: bool,
    peer: SocketAddr,
    shared: &Shared,
) -> Option<()> {
    if acknowledged {
        let redaction = (&shared.redaction, Source::Forward);
        return publish_acknowledged(FORWARD_SOURCE, redaction, &shared.publisher, events)
            .await
            .ok();
    }
    let mut events = events;
    shared.redaction.events(Source::Forward, &mut events);
    // Nothing will be acknowledged: the events are handed over without waiting for them.
    match shared.publisher.publish(events).await {
        Ok(_) => Some(()),
        Err(error) => {
            tracing::error!(%peer, %error, "forward events not accepted by the bus");
            None
        }
    }
}

/// The events and dead letters of a decoded message.
fn split(message: Message, peer: SocketAddr, shared: &Shared) -> (Vec<Event>, Vec<DeadLetter>) {
    let ingested = chrono::Utc::now();
    let mut events = Vec::with_capacity(message.entries.len());
    let mut letters = Vec::new();
    // Identical entries of one message without a chunk id: told apart by their rank.
    let mut seen: HashMap<u128, u32> = HashMap::new();
    for (index, entry) in message.entries.into_iter().enumerate() {
        match entry {
            Ok(entry) => {
                let key = match &message.options.chunk {
                    Some(chunk) => format!("{chunk}/{index}"),
                    None => content_key(&message.tag, &entry, &mut seen),
                };
                let origin = Origin {
                    tag: &message.tag,
                    time: entry.time,
                    id: event_id(FORWARD_SOURCE, RecordPosition::Key(&key)),
                    host_name: &shared.host_name,
                    ingested,
                };
                let mut event = record_event(origin, entry.record);
                enrich_all(&shared.enrichers, &mut event);
                events.push(event);
            }
            Err(bad) => {
                let error = format!(
                    "forward message from {peer} (tag {:?}): {}",
                    message.tag, bad.reason
                );
                letters.push(letter(error, bad.raw));
            }
        }
    }
    (events, letters)
}

/// The key of an entry sent without a chunk id: a hash of its tag, time and record, and its
/// rank among identical entries of the same message.
fn content_key(tag: &str, entry: &Entry, seen: &mut HashMap<u128, u32>) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(tag.as_bytes());
    hasher.update(&[0]);
    hasher.update(&entry.time.timestamp().to_le_bytes());
    hasher.update(&entry.time.timestamp_subsec_nanos().to_le_bytes());
    let record = Value::Map(entry.record.clone());
    hasher.update(&encode(&record));
    let hash = hasher.digest128();
    let rank = seen.entry(hash).or_insert(0);
    let key = format!("h{hash:032x}/{rank}");
    *rank += 1;
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::protocol::event_time;
    use tokio::io::DuplexStream;

    struct Harness {
        client: DuplexStream,
        subscriber: kestrel_bus::Subscriber,
        dead_letters: DeadLetterStore,
        _dir: tempfile::TempDir,
        _stop: watch::Sender<bool>,
    }

    fn start(secrets: Option<Secrets>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let dead_letters = DeadLetterStore::open(dir.path().join("dead")).unwrap();
        let (publisher, subscriber) = kestrel_bus::embedded(16);
        let shared = Arc::new(Shared {
            publisher,
            dead_letters: dead_letters.clone(),
            enrichers: Vec::new(),
            host_name: "kestrel-test".into(),
            secrets,
            max_chunk_bytes: 4096,
            redaction: crate::redact::Redaction::disabled(),
            waited: Default::default(),
        });
        let (client, server) = tokio::io::duplex(1 << 16);
        let (stop, shutdown) = watch::channel(false);
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        tokio::spawn(serve_connection(server, peer, shared, shutdown));
        Harness {
            client,
            subscriber,
            dead_letters,
            _dir: dir,
            _stop: stop,
        }
    }

    fn message(chunk: Option<&str>, logs: &[&str]) -> Vec<u8> {
        let entries = logs
            .iter()
            .map(|log| {
                Value::Array(vec![
                    event_time(1_700_000_000, 1),
                    Value::Map(vec![("log".into(), (*log).into())]),
                ])
            })
            .collect();
        let mut items = vec!["app.web".into(), Value::Array(entries)];
        if let Some(chunk) = chunk {
            items.push(Value::Map(vec![("chunk".into(), chunk.into())]));
        }
        encode(&Value::Array(items))
    }

    async fn read_value(client: &mut DuplexStream) -> Value {
        let mut buf = Vec::new();
        loop {
            if let Ok(Some(len)) = complete_len(&buf) {
                return rmpv::decode::read_value(&mut &buf[..len]).unwrap();
            }
            let mut byte = [0u8; 256];
            let n = client.read(&mut byte).await.unwrap();
            assert!(n > 0, "connection closed");
            buf.extend_from_slice(&byte[..n]);
        }
    }

    #[tokio::test]
    async fn a_chunk_is_acknowledged_only_once_the_bus_accepted_it() {
        let mut h = start(None);
        h.client
            .write_all(&message(Some("chunk-1"), &["one", "two"]))
            .await
            .unwrap();
        let batch = h.subscriber.next().await.unwrap();
        let (events, acker) = batch.into_parts();
        assert_eq!(
            events
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>(),
            ["one", "two"]
        );
        // The bus holds the batch but has not made it durable: no ack yet.
        let mut byte = [0u8; 1];
        let early =
            tokio::time::timeout(Duration::from_millis(300), h.client.read(&mut byte)).await;
        assert!(
            early.is_err(),
            "acknowledged before the bus accepted the chunk"
        );
        acker.ack();
        let ack = read_value(&mut h.client).await;
        assert_eq!(ack, Value::Map(vec![("ack".into(), "chunk-1".into())]));
        // Ids follow the chunk id and the entry index: the same chunk sent again gets them again.
        let want = event_id(FORWARD_SOURCE, RecordPosition::Key("chunk-1/1"));
        assert_eq!(events[1].event.id, want);
    }

    #[tokio::test]
    async fn a_batch_the_bus_drops_is_not_acknowledged() {
        let mut h = start(None);
        h.client
            .write_all(&message(Some("chunk-2"), &["lost"]))
            .await
            .unwrap();
        let batch = h.subscriber.next().await.unwrap();
        // The indexer fails before committing: the acknowledgement never fires.
        drop(batch);
        let mut buf = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), h.client.read_to_end(&mut buf))
            .await
            .expect("the connection closes")
            .unwrap();
        assert_eq!(n, 0, "no ack for a chunk that was not stored: {buf:?}");
    }

    #[tokio::test]
    async fn without_a_chunk_ids_come_from_the_content() {
        let mut h = start(None);
        h.client
            .write_all(&message(None, &["same", "same", "other"]))
            .await
            .unwrap();
        let (events, _acker) = h.subscriber.next().await.unwrap().into_parts();
        assert_eq!(events.len(), 3);
        assert_ne!(
            events[0].event.id, events[1].event.id,
            "identical entries kept apart"
        );
        h.client
            .write_all(&message(None, &["same", "same", "other"]))
            .await
            .unwrap();
        let (again, _acker) = h.subscriber.next().await.unwrap().into_parts();
        let ids = |events: &[Event]| {
            events
                .iter()
                .map(|e| e.event.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(&events),
            ids(&again),
            "a message sent again gets the same ids"
        );
    }

    #[tokio::test]
    async fn refused_entries_and_messages_become_dead_letters_and_the_stream_goes_on() {
        let mut h = start(None);
        // A message whose second entry has no map, then a message that is no forward message
        // (with a chunk: acknowledged, since it is kept), then a good one.
        let bad_entry = encode(&Value::Array(vec![
            "app".into(),
            Value::Array(vec![
                Value::Array(vec![
                    Value::from(1),
                    Value::Map(vec![("log".into(), "ok".into())]),
                ]),
                Value::Array(vec![Value::from(2), Value::from("no map")]),
            ]),
        ]));
        let not_forward = encode(&Value::Array(vec![
            Value::from(42),
            Value::from(1),
            Value::Nil,
            Value::Map(vec![("chunk".into(), "chunk-bad".into())]),
        ]));
        h.client.write_all(&bad_entry).await.unwrap();
        h.client.write_all(&not_forward).await.unwrap();
        h.client
            .write_all(&message(Some("chunk-3"), &["after"]))
            .await
            .unwrap();
        let (events, acker) = h.subscriber.next().await.unwrap().into_parts();
        assert_eq!(events[0].message, "ok");
        acker.ack();
        assert_eq!(
            read_value(&mut h.client).await,
            Value::Map(vec![("ack".into(), "chunk-bad".into())])
        );
        let (events, acker) = h.subscriber.next().await.unwrap().into_parts();
        assert_eq!(events[0].message, "after");
        acker.ack();
        assert_eq!(
            read_value(&mut h.client).await,
            Value::Map(vec![("ack".into(), "chunk-3".into())])
        );
        let letters = h.dead_letters.read_all().unwrap();
        assert_eq!(letters.len(), 2);
        assert_eq!(
            letters[0].error,
            "forward message from 127.0.0.1:5000 (tag \"app\"): entry 1: the record must be a map, found a string"
        );
        assert_eq!(
            rmpv::decode::read_value(&mut letters[0].raw.as_slice()).unwrap(),
            Value::Array(vec![Value::from(2), Value::from("no map")])
        );
        assert_eq!(
            letters[1].error,
            "forward message from 127.0.0.1:5000: the tag (item 0) must be a string, found an integer"
        );
        assert_eq!(letters[1].raw, not_forward);
        assert!(letters.iter().all(|l| l.source == FORWARD_SOURCE));
    }

    #[tokio::test]
    async fn garbage_and_oversized_streams_are_kept_and_closed() {
        let mut h = start(None);
        h.client.write_all(b"\x92\x01\xc1 garbage").await.unwrap();
        let mut rest = Vec::new();
        h.client.read_to_end(&mut rest).await.unwrap();
        let letters = h.dead_letters.read_all().unwrap();
        assert_eq!(
            letters[0].error,
            "forward stream from 127.0.0.1:5000: not msgpack: byte 2: reserved marker 0xc1 (not msgpack)"
        );
        assert_eq!(letters[0].raw, b"\x92\x01\xc1 garbage");

        let mut h = start(None);
        let huge = message(Some("big"), &[&"x".repeat(10_000)]);
        let _ = h.client.write_all(&huge).await;
        let mut rest = Vec::new();
        let _ = h.client.read_to_end(&mut rest).await;
        assert!(rest.is_empty(), "no ack for an oversized message");
        let letters = h.dead_letters.read_all().unwrap();
        assert!(
            letters[0]
                .error
                .contains("message over 4096 bytes (collector.forward.max_chunk_bytes)"),
            "{}",
            letters[0].error
        );
        assert_eq!(letters[0].raw, huge[..letters[0].raw.len()]);
    }

    fn secrets() -> Secrets {
        Secrets {
            shared_key: "fleet-key".into(),
            users: Vec::new(),
        }
    }

    async fn ping(client: &mut DuplexStream, key: &str) -> Value {
        let helo = read_value(client).await;
        let options = helo.as_array().unwrap()[1].as_map().unwrap();
        let nonce = match &options[0].1 {
            Value::Binary(nonce) => nonce.clone(),
            other => panic!("nonce {other:?}"),
        };
        let digest =
            crate::forward::handshake::digest(&[b"salt", b"client", &nonce, key.as_bytes()]);
        let ping = Value::Array(vec![
            "PING".into(),
            "client".into(),
            "salt".into(),
            digest.into(),
            "".into(),
            "".into(),
        ]);
        client.write_all(&encode(&ping)).await.unwrap();
        read_value(client).await
    }

    #[tokio::test]
    async fn the_handshake_lets_the_right_key_in_and_refuses_others() {
        let mut h = start(Some(secrets()));
        let pong = ping(&mut h.client, "fleet-key").await;
        assert_eq!(pong.as_array().unwrap()[1], Value::Boolean(true));
        h.client
            .write_all(&message(Some("c"), &["in"]))
            .await
            .unwrap();
        let (events, _acker) = h.subscriber.next().await.unwrap().into_parts();
        assert_eq!(events[0].message, "in");

        let mut h = start(Some(secrets()));
        let pong = ping(&mut h.client, "wrong-key").await;
        let items = pong.as_array().unwrap();
        assert_eq!(items[1], Value::Boolean(false));
        assert_eq!(items[2].as_str(), Some("shared key mismatch"));
        let mut rest = Vec::new();
        h.client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }
}
