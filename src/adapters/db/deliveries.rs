//! The sea-orm implementation of [`DeliveryRepository`] (issue 18).

use async_trait::async_trait;
use sea_orm::ConnectionTrait;

use super::SeaRepos;
use crate::ports::DeliveryRepository;

#[async_trait]
impl<C: ConnectionTrait + Send + Sync> DeliveryRepository for SeaRepos<C> {}
