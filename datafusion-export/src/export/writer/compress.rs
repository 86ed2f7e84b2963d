//! Stream compression of text artifacts on a task of its own.
//!
//! The writer's task serializes batches and sends the serialized chunks over
//! a small bounded channel; the compression task compresses them in order
//! and uploads the output. Serialization and compression thus overlap, and
//! memory stays bounded by the channel capacity.

use std::io::Write;

use bytes::Bytes;
use flate2::write::GzEncoder;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{ExportError, Result};

use super::super::options::Compression;
use super::{task_error, Upload};

/// Batches queued for compression at most.
const CHANNEL_CAPACITY: usize = 2;
/// zstd level (the `zstd` default, as DataFusion uses).
const ZSTD_LEVEL: i32 = 3;

/// A streaming compressor writing into memory that is drained after every
/// input chunk.
pub(super) enum Codec {
    Gzip(GzEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Codec {
    pub(super) fn new(compression: Compression) -> Result<Codec> {
        match compression {
            Compression::Gzip => Ok(Codec::Gzip(GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            ))),
            Compression::Zstd => Ok(Codec::Zstd(
                zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL).map_err(io_error)?,
            )),
            other => Err(ExportError::Invalid(format!(
                "{other} is not a stream compression"
            ))),
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        match self {
            Codec::Gzip(e) => e.write_all(data),
            Codec::Zstd(e) => e.write_all(data),
        }
        .map_err(io_error)
    }

    /// The compressed bytes produced so far and not yet taken.
    fn take(&mut self) -> Vec<u8> {
        let out = match self {
            Codec::Gzip(e) => e.get_mut(),
            Codec::Zstd(e) => e.get_mut(),
        };
        let capacity = out.capacity();
        std::mem::replace(out, Vec::with_capacity(capacity))
    }

    /// Ends the stream; returns the remaining compressed bytes.
    fn finish(self) -> Result<Vec<u8>> {
        match self {
            Codec::Gzip(e) => e.finish(),
            Codec::Zstd(e) => e.finish(),
        }
        .map_err(io_error)
    }
}

fn io_error(e: std::io::Error) -> ExportError {
    ExportError::DataFusion(e.into())
}

enum Message {
    Data(Vec<Vec<u8>>),
    Finish,
}

enum State {
    /// Nothing sent yet: no task started.
    Idle(Box<(Codec, Upload)>),
    Running {
        tx: mpsc::Sender<Message>,
        task: JoinHandle<Result<Option<u64>>>,
    },
}

/// Compresses and uploads on a task of its own.
pub(super) struct CompressedOutput {
    state: Option<State>,
}

impl CompressedOutput {
    pub(super) fn new(compression: Compression, upload: Upload) -> Result<Self> {
        Ok(CompressedOutput {
            state: Some(State::Idle(Box::new((Codec::new(compression)?, upload)))),
        })
    }

    /// Queues serialized chunks (waits while the queue is full).
    pub(super) async fn send(&mut self, chunks: Vec<Vec<u8>>) -> Result<()> {
        let state = match self.state.take() {
            Some(State::Idle(idle)) => {
                let (codec, upload) = *idle;
                let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
                let task = tokio::spawn(run(codec, upload, rx));
                State::Running { tx, task }
            }
            Some(running) => running,
            None => {
                return Err(ExportError::Invalid(
                    "export writer: the artifact already failed".to_string(),
                ))
            }
        };
        let State::Running { tx, task } = state else {
            unreachable!("state was just made running")
        };
        if tx.send(Message::Data(chunks)).await.is_ok() {
            self.state = Some(State::Running { tx, task });
            return Ok(());
        }
        // The task ended early: it failed; report why.
        drop(tx);
        match task.await.map_err(task_error)? {
            Err(e) => Err(e),
            Ok(_) => Err(ExportError::Invalid(
                "export writer: compression stopped unexpectedly".to_string(),
            )),
        }
    }

    /// Ends the stream and completes the upload; returns the stored size.
    pub(super) async fn finish(mut self) -> Result<u64> {
        match self.state.take() {
            Some(State::Idle(idle)) => {
                let (codec, mut upload) = *idle;
                let rest = match codec.finish() {
                    Ok(rest) => rest,
                    Err(e) => {
                        let _ = upload.abort().await;
                        return Err(e);
                    }
                };
                if let Err(e) = upload.put(Bytes::from(rest)).await {
                    let _ = upload.abort().await;
                    return Err(e);
                }
                upload.finish().await
            }
            Some(State::Running { tx, task }) => {
                // A failed send means the task already ended; its result says why.
                let _ = tx.send(Message::Finish).await;
                drop(tx);
                match task.await.map_err(task_error)?? {
                    Some(size) => Ok(size),
                    None => Err(ExportError::Invalid(
                        "export writer: compression stopped unexpectedly".to_string(),
                    )),
                }
            }
            None => Err(ExportError::Invalid(
                "export writer: the artifact already failed".to_string(),
            )),
        }
    }

    /// Abandons the upload.
    pub(super) async fn abort(mut self) -> Result<()> {
        match self.state.take() {
            Some(State::Idle(idle)) => idle.1.abort().await,
            Some(State::Running { tx, task }) => {
                // Closing the channel without `Finish` makes the task abort.
                drop(tx);
                task.await.map_err(task_error)?.map(|_| ())
            }
            None => Ok(()),
        }
    }
}

/// The compression task: `Some(size)` after `Finish`, `None` after aborting
/// because the channel closed without it.
async fn run(
    mut codec: Codec,
    mut upload: Upload,
    mut rx: mpsc::Receiver<Message>,
) -> Result<Option<u64>> {
    while let Some(message) = rx.recv().await {
        let step = match message {
            Message::Data(chunks) => compress_chunks(&mut codec, &chunks),
            Message::Finish => {
                let rest = match codec.finish() {
                    Ok(rest) => rest,
                    Err(e) => {
                        let _ = upload.abort().await;
                        return Err(e);
                    }
                };
                if let Err(e) = upload.put(Bytes::from(rest)).await {
                    let _ = upload.abort().await;
                    return Err(e);
                }
                return upload.finish().await.map(Some);
            }
        };
        let result = match step {
            Ok(()) => upload.put(Bytes::from(codec.take())).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            let _ = upload.abort().await;
            return Err(e);
        }
    }
    upload.abort().await?;
    Ok(None)
}

fn compress_chunks(codec: &mut Codec, chunks: &[Vec<u8>]) -> Result<()> {
    for chunk in chunks {
        codec.write(chunk)?;
    }
    Ok(())
}
