//! The sea-orm implementation of [`DeviceCodeRepository`] (issue 18).

use async_trait::async_trait;
use sea_orm::ConnectionTrait;

use super::SeaRepos;
use crate::ports::DeviceCodeRepository;

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> DeviceCodeRepository for SeaRepos<C> {}
