//! An `ObjectStore` wrapper whose objects' `last_modified` comes from the database's
//! injectable clock, so a test can move time forward by days and the vacuum sees
//! object ages and commit times on one clock, as it does against a real store.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion_export::tables::Clock;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// See the module documentation.
pub struct ClockedStore {
    inner: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
    written: Arc<Mutex<HashMap<Path, chrono::DateTime<chrono::Utc>>>>,
}

impl ClockedStore {
    /// Wraps `inner`; objects written from now on are stamped by `clock`.
    pub fn new(inner: Arc<dyn ObjectStore>, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            clock,
            written: Arc::default(),
        })
    }

    fn stamp(&self, location: &Path) {
        // Like S3, a multipart upload is dated when it starts.
        self.written
            .lock()
            .unwrap()
            .insert(location.clone(), self.clock.now());
    }

    fn restamp(&self, mut meta: ObjectMeta) -> ObjectMeta {
        if let Some(t) = self.written.lock().unwrap().get(&meta.location) {
            meta.last_modified = *t;
        }
        meta
    }
}

impl fmt::Debug for ClockedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClockedStore({})", self.inner)
    }
}

impl fmt::Display for ClockedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClockedStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for ClockedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let result = self.inner.put_opts(location, payload, opts).await;
        if result.is_ok() {
            self.stamp(location);
        }
        result
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.stamp(location);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let mut result = self.inner.get_opts(location, options).await?;
        result.meta = self.restamp(result.meta);
        Ok(result)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let written = Arc::clone(&self.written);
        self.inner
            .list(prefix)
            .map(move |meta| {
                meta.map(|mut meta| {
                    if let Some(t) = written.lock().unwrap().get(&meta.location) {
                        meta.last_modified = *t;
                    }
                    meta
                })
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut result = self.inner.list_with_delimiter(prefix).await?;
        result.objects = result
            .objects
            .into_iter()
            .map(|m| self.restamp(m))
            .collect();
        Ok(result)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await?;
        self.stamp(to);
        Ok(())
    }
}
