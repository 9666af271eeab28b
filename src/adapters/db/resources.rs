//! The sea-orm implementation of [`ResourceRepository`] (issue 18).

use async_trait::async_trait;
use sea_orm::ConnectionTrait;

use super::SeaRepos;
use crate::ports::ResourceRepository;

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> ResourceRepository for SeaRepos<C> {}
