//! Migrations run up, down and up again on both back ends.

use migration::{Migrator, MigratorTrait};
use portcullis::adapters::db;

use crate::both_backends;
use crate::helpers::TestDb;

both_backends!(migrations_go_up_down_and_up_again, |backend| async move {
    let tdb = TestDb::new(backend).await;
    let conn = db::connect(&tdb.url).await.unwrap();
    Migrator::up(&conn, None).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&conn)
            .await
            .unwrap()
            .is_empty()
    );
    Migrator::down(&conn, None).await.unwrap();
    assert!(
        !Migrator::get_pending_migrations(&conn)
            .await
            .unwrap()
            .is_empty()
    );
    Migrator::up(&conn, None).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&conn)
            .await
            .unwrap()
            .is_empty()
    );
});
