//! A fault-injecting `ObjectStore` wrapper: at the k-th call of one kind it fails
//! before writing, writes and then fails (a lost response), times out without writing,
//! or fails transiently for n calls in a row. It is for faults only: the store under it
//! is a real one (memory, local disk, or a server).

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result, UploadPart,
};

/// The kinds of calls faults are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallKind {
    /// `put_opts` (plain and put-if-absent).
    Put,
    /// Starting a multipart upload.
    PutMultipart,
    /// Uploading one part.
    UploadPart,
    /// Completing a multipart upload.
    CompleteMultipart,
    /// `get_opts` / `get_ranges` (and heads).
    Get,
    /// Any listing.
    List,
    /// One deleted object.
    Delete,
    /// `copy_opts`.
    Copy,
}

impl CallKind {
    /// Every kind.
    pub const ALL: [CallKind; 8] = [
        CallKind::Put,
        CallKind::PutMultipart,
        CallKind::UploadPart,
        CallKind::CompleteMultipart,
        CallKind::Get,
        CallKind::List,
        CallKind::Delete,
        CallKind::Copy,
    ];

    fn writes(self) -> bool {
        !matches!(self, CallKind::Get | CallKind::List)
    }
}

/// What happens at the chosen call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request fails before it reaches the store: nothing is written.
    FailBeforeWrite,
    /// The request is carried out, then its response is lost: an error although the
    /// write landed.
    LostResponse,
    /// The request times out and is dropped: nothing is written.
    Timeout,
    /// This call and the next `n - 1` of the same kind fail with a 503, writing nothing.
    Transient(usize),
}

impl Fault {
    /// One of each fault kind (transient for 3 calls).
    pub const ALL: [Fault; 4] = [
        Fault::FailBeforeWrite,
        Fault::LostResponse,
        Fault::Timeout,
        Fault::Transient(3),
    ];
}

#[derive(Debug, Default)]
struct State {
    calls: HashMap<CallKind, usize>,
    armed: Option<(CallKind, usize, Fault)>,
    fired: usize,
}

/// What to do with one call.
enum Action {
    Pass,
    Fail(object_store::Error),
    FailAfter,
}

/// The wrapper; see the module docs.
pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultStore({})", self.inner)
    }
}

impl fmt::Display for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultStore({})", self.inner)
    }
}

fn error(kind: CallKind, what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultStore",
        source: format!("injected fault: {what} ({kind:?})").into(),
    }
}

impl FaultStore {
    /// Wraps `inner`, with no fault armed.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            state: Arc::default(),
        })
    }

    /// The calls of each kind since the last [`FaultStore::reset_counts`].
    pub fn calls(&self) -> HashMap<CallKind, usize> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Starts counting calls from zero.
    pub fn reset_counts(&self) {
        let mut state = self.state.lock().unwrap();
        state.calls.clear();
        state.fired = 0;
    }

    /// Arms `fault` at call `k` (1-based, counted from now) of `kind`.
    pub fn arm(&self, kind: CallKind, k: usize, fault: Fault) {
        let mut state = self.state.lock().unwrap();
        state.calls.clear();
        state.fired = 0;
        state.armed = Some((kind, k, fault));
    }

    /// Disarms; returns how many calls the fault hit.
    pub fn disarm(&self) -> usize {
        let mut state = self.state.lock().unwrap();
        state.armed = None;
        state.fired
    }

    fn on_call(&self, kind: CallKind) -> Action {
        on_call(&self.state, kind)
    }
}

fn on_call(state: &Mutex<State>, kind: CallKind) -> Action {
    let mut state = state.lock().unwrap();
    let n = {
        let calls = state.calls.entry(kind).or_default();
        *calls += 1;
        *calls
    };
    let Some((armed, k, fault)) = state.armed else {
        return Action::Pass;
    };
    if armed != kind {
        return Action::Pass;
    }
    let hit = match fault {
        Fault::Transient(times) => n >= k && n < k + times,
        _ => n == k,
    };
    if !hit {
        return Action::Pass;
    }
    state.fired += 1;
    match fault {
        Fault::FailBeforeWrite => Action::Fail(error(kind, "connection refused")),
        Fault::Timeout => Action::Fail(error(kind, "operation timed out")),
        Fault::Transient(_) => Action::Fail(error(kind, "503 Service Unavailable")),
        Fault::LostResponse if kind.writes() => Action::FailAfter,
        Fault::LostResponse => Action::Fail(error(kind, "connection reset")),
    }
}

async fn guarded<T, F>(state: &Mutex<State>, kind: CallKind, call: F) -> Result<T>
where
    F: std::future::Future<Output = Result<T>>,
{
    match on_call(state, kind) {
        Action::Pass => call.await,
        Action::Fail(e) => Err(e),
        Action::FailAfter => {
            call.await?;
            Err(error(
                kind,
                "connection reset after the request was carried out",
            ))
        }
    }
}

struct FaultUpload {
    inner: Box<dyn MultipartUpload>,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for FaultUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultUpload")
    }
}

#[async_trait]
impl MultipartUpload for FaultUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let state = Arc::clone(&self.state);
        match on_call(&state, CallKind::UploadPart) {
            Action::Pass => self.inner.put_part(data),
            Action::Fail(e) => Box::pin(async move { Err(e) }),
            Action::FailAfter => {
                let part = self.inner.put_part(data);
                Box::pin(async move {
                    part.await?;
                    Err(error(
                        CallKind::UploadPart,
                        "connection reset after the part landed",
                    ))
                })
            }
        }
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let state = Arc::clone(&self.state);
        guarded(&state, CallKind::CompleteMultipart, self.inner.complete()).await
    }

    async fn abort(&mut self) -> Result<()> {
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for FaultStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        guarded(
            &self.state,
            CallKind::Put,
            self.inner.put_opts(location, payload, opts),
        )
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let inner = guarded(
            &self.state,
            CallKind::PutMultipart,
            self.inner.put_multipart_opts(location, opts),
        )
        .await?;
        Ok(Box::new(FaultUpload {
            inner,
            state: Arc::clone(&self.state),
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        guarded(
            &self.state,
            CallKind::Get,
            self.inner.get_opts(location, options),
        )
        .await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        guarded(
            &self.state,
            CallKind::Get,
            self.inner.get_ranges(location, ranges),
        )
        .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let state = Arc::clone(&self.state);
        let inner = Arc::clone(&self.inner);
        locations
            .then(move |location| {
                let state = Arc::clone(&state);
                let inner = Arc::clone(&inner);
                async move {
                    let location = location?;
                    let delete = async {
                        inner
                            .delete_stream(futures::stream::iter([Ok(location.clone())]).boxed())
                            .next()
                            .await
                            .unwrap_or(Ok(location.clone()))
                    };
                    guarded(&state, CallKind::Delete, delete).await
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        match self.on_call(CallKind::List) {
            Action::Pass => self.inner.list(prefix),
            Action::Fail(e) => futures::stream::iter([Err(e)]).boxed(),
            Action::FailAfter => {
                futures::stream::iter([Err(error(CallKind::List, "reset"))]).boxed()
            }
        }
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        match self.on_call(CallKind::List) {
            Action::Pass => self.inner.list_with_offset(prefix, offset),
            Action::Fail(e) => futures::stream::iter([Err(e)]).boxed(),
            Action::FailAfter => {
                futures::stream::iter([Err(error(CallKind::List, "reset"))]).boxed()
            }
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        guarded(
            &self.state,
            CallKind::List,
            self.inner.list_with_delimiter(prefix),
        )
        .await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        guarded(
            &self.state,
            CallKind::Copy,
            self.inner.copy_opts(from, to, options),
        )
        .await
    }
}
