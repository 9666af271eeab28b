//! The event archive's adapter: the S3 bucket behind the
//! [`ObjectStore`](crate::ports::ObjectStore) port ([`s3`]). The layout,
//! the Parquet format and the manifest rules are `app::archive`'s.

pub mod s3;

pub use self::s3::S3ObjectStore;
