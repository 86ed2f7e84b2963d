//! [`ListingFilter`]: an object store whose listings keep their contract and can hide
//! objects.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// Decides which objects a [`ListingFilter`] leaves out of listings.
pub type Hidden = Arc<dyn Fn(&Path) -> bool + Send + Sync>;

/// Wraps a store so that:
///
/// * `list_with_offset` keeps its contract (only keys after the offset) even where the
///   server ignores the offset (Azurite ignores Azure's `startFrom`, some S3-compatible
///   servers `start-after`): Delta's log reader lists from a version and fails when
///   older commits come back;
/// * with [`ListingFilter::hiding`], listings leave out the objects a predicate names
///   (the files of export attempts that have not committed, when an external table is
///   read back). Reads of a named object are not affected.
#[derive(Clone)]
pub struct ListingFilter {
    inner: Arc<dyn ObjectStore>,
    hidden: Option<Hidden>,
}

impl ListingFilter {
    /// `inner`, with listings kept to their contract.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            hidden: None,
        }
    }

    /// `inner`, whose listings also leave out the objects `hidden` names.
    pub fn hiding(inner: Arc<dyn ObjectStore>, hidden: Hidden) -> Self {
        Self {
            inner,
            hidden: Some(hidden),
        }
    }

    fn filter(
        &self,
        stream: BoxStream<'static, Result<ObjectMeta>>,
        after: Option<Path>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let hidden = self.hidden.clone();
        stream
            .filter(move |meta| {
                let keep = match meta {
                    Ok(meta) => {
                        after.as_ref().is_none_or(|after| meta.location > *after)
                            && hidden.as_ref().is_none_or(|hide| !hide(&meta.location))
                    }
                    Err(_) => true,
                };
                futures::future::ready(keep)
            })
            .boxed()
    }
}

impl fmt::Debug for ListingFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListingFilter")
            .field("inner", &self.inner)
            .field("hiding", &self.hidden.is_some())
            .finish()
    }
}

impl fmt::Display for ListingFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

#[async_trait::async_trait]
impl ObjectStore for ListingFilter {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.filter(self.inner.list(prefix), None)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.filter(
            self.inner.list_with_offset(prefix, offset),
            Some(offset.clone()),
        )
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut listed = self.inner.list_with_delimiter(prefix).await?;
        if let Some(hide) = &self.hidden {
            listed.objects.retain(|meta| !hide(&meta.location));
        }
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    #[tokio::test]
    async fn hides_named_objects_and_keeps_offsets() {
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        for name in ["a/1", "a/2", "a/3-hidden"] {
            inner
                .put(&Path::from(name), PutPayload::from_static(b"x"))
                .await
                .unwrap();
        }
        let store = ListingFilter::hiding(
            Arc::clone(&inner),
            Arc::new(|p: &Path| p.as_ref().ends_with("hidden")),
        );
        let names = |metas: Vec<ObjectMeta>| {
            metas
                .into_iter()
                .map(|m| m.location.to_string())
                .collect::<Vec<_>>()
        };
        let all: Vec<ObjectMeta> = store.list(None).try_collect().await.unwrap();
        assert_eq!(names(all), vec!["a/1", "a/2"]);
        let after: Vec<ObjectMeta> = store
            .list_with_offset(None, &Path::from("a/1"))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(names(after), vec!["a/2"]);
        let listed = store
            .list_with_delimiter(Some(&Path::from("a")))
            .await
            .unwrap();
        assert_eq!(names(listed.objects), vec!["a/1", "a/2"]);
        // A named object still reads.
        assert!(store.get(&Path::from("a/3-hidden")).await.is_ok());
    }
}
