//! The store of each bucket (built once, from the environment), and listing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;

use super::runtime::block_on;
use super::url::{ObjectUrl, Scheme};
use super::StorageError;

/// The store holding `url`'s bucket. Built on first use from the usual
/// environment of its kind (see `docs/storage.md`) and kept for the process.
pub fn store_for(url: &ObjectUrl) -> Result<Arc<dyn ObjectStore>, StorageError> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let key = url.bucket_url();
    let mut stores = STORES
        .get_or_init(Default::default)
        .lock()
        .expect("store cache lock");
    if let Some(s) = stores.get(&key) {
        return Ok(s.clone());
    }
    let err = |e: object_store::Error| StorageError::Request {
        url: key.clone(),
        message: format!("cannot configure the store: {e}"),
    };
    let store: Arc<dyn ObjectStore> = match url.scheme {
        Scheme::S3 => Arc::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_url(&key)
                .build()
                .map_err(err)?,
        ),
        Scheme::Gcs => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(&key)
                .build()
                .map_err(err)?,
        ),
        Scheme::Azure => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(&key)
                .build()
                .map_err(err)?,
        ),
    };
    stores.insert(key, store.clone());
    Ok(store)
}

/// The object path of `url`'s key.
pub fn object_path(url: &ObjectUrl) -> ObjectPath {
    ObjectPath::from(url.key.trim_end_matches('/'))
}

fn request_err(url: &ObjectUrl) -> impl Fn(object_store::Error) -> StorageError + '_ {
    move |e| match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound(url.to_string()),
        e => StorageError::Request {
            url: url.to_string(),
            message: e.to_string(),
        },
    }
}

/// The size of the object at `url`, or `None` when there is none.
pub fn head(url: &ObjectUrl) -> Result<Option<u64>, StorageError> {
    let store = store_for(url)?;
    let path = object_path(url);
    match block_on(async move { store.head(&path).await }) {
        Ok(meta) => Ok(Some(meta.size)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(request_err(url)(e)),
    }
}

/// Every object under `url`'s key taken as a directory (`key/...`), sorted
/// by key; names starting with `.` (temporaries) are left out.
pub fn list_prefix(url: &ObjectUrl) -> Result<Vec<ObjectUrl>, StorageError> {
    let store = store_for(url)?;
    let prefix = object_path(url);
    let metas = block_on(async move {
        let prefix = (!prefix.as_ref().is_empty()).then_some(prefix);
        store.list(prefix.as_ref()).try_collect::<Vec<_>>().await
    })
    .map_err(request_err(url))?;
    let mut out: Vec<ObjectUrl> = metas
        .into_iter()
        .filter(|m| {
            !m.location
                .filename()
                .is_some_and(|n| n.starts_with('.') || n.is_empty())
        })
        .map(|m| url.with_key(m.location.to_string()))
        .collect();
    out.sort();
    Ok(out)
}

/// The objects whose keys match the glob in `url`'s key (`*`, `?`, `[...]`),
/// sorted; the listing starts at the key's part before the first wildcard.
pub fn glob(url: &ObjectUrl) -> Result<Vec<ObjectUrl>, StorageError> {
    let pattern = glob::Pattern::new(&url.key).map_err(|e| StorageError::BadUrl {
        url: url.to_string(),
        message: format!("bad pattern: {e}"),
    })?;
    let literal = &url.key[..url.key.find(['*', '?', '[']).unwrap_or(url.key.len())];
    let dir = &literal[..literal.rfind('/').map_or(0, |i| i + 1)];
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..Default::default()
    };
    Ok(list_prefix(&url.with_key(dir))?
        .into_iter()
        .filter(|u| pattern.matches_with(&u.key, options))
        .collect())
}

/// Writes `bytes` as the object at `url` in one PUT: readers see the old
/// object or the whole new one, never a part.
pub fn put(url: &ObjectUrl, bytes: Vec<u8>) -> Result<(), StorageError> {
    let store = store_for(url)?;
    let path = object_path(url);
    block_on(async move { store.put(&path, bytes.into()).await })
        .map(|_| ())
        .map_err(request_err(url))
}
