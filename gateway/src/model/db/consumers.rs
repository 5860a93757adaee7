//! Consumers (`kong/db/schema/entities/consumers.lua`): unique `username` and `custom_id`;
//! deleting one takes its credentials (every plugin-owned table) and plugins along.

use serde_json::Value;

use super::{
    Db, DbError, check_new_id, check_unique, find, merge, retain, set_key, stamp, to_value,
};
use crate::model::Consumer;
use crate::schema::Source;

impl Db {
    /// `GET /consumers/{id or username}`.
    pub fn consumer(&self, key: &str) -> Option<&Consumer> {
        find(&self.consumers, key)
    }

    /// `POST /consumers`.
    pub fn insert_consumer(
        &mut self,
        value: Value,
        source: Source,
        now: u64,
    ) -> Result<Consumer, DbError> {
        let consumer = Consumer::from_value(value, source)?;
        self.store_consumer(consumer, now, None)
    }

    fn store_consumer(
        &mut self,
        mut c: Consumer,
        now: u64,
        replacing: Option<&Consumer>,
    ) -> Result<Consumer, DbError> {
        stamp(
            &mut c.id,
            &mut c.created_at,
            now,
            replacing.map(|r| r.created_at),
        )?;
        c.updated_at = now;
        check_unique(
            &self.consumers,
            &c.id,
            "username",
            c.username.as_deref(),
            |o| o.username.as_deref(),
        )?;
        check_unique(
            &self.consumers,
            &c.id,
            "custom_id",
            c.custom_id.as_deref(),
            |o| o.custom_id.as_deref(),
        )?;
        check_new_id(&self.consumers, &c.id, replacing.is_some())?;
        self.consumers.insert(c.id.clone(), c.clone());
        Ok(c)
    }

    /// `PATCH /consumers/{id or username}`.
    pub fn update_consumer(
        &mut self,
        key: &str,
        patch: Value,
        source: Source,
        now: u64,
    ) -> Result<Consumer, DbError> {
        let old = self.consumer(key).cloned().ok_or(DbError::NotFound)?;
        let mut value = to_value(&old);
        merge(&mut value, patch);
        let c = Consumer::from_value(value, source)?;
        self.store_consumer(c, now, Some(&old))
    }

    /// `PUT /consumers/{id or username}`.
    pub fn upsert_consumer(
        &mut self,
        key: &str,
        mut value: Value,
        source: Source,
        now: u64,
    ) -> Result<Consumer, DbError> {
        let old = self.consumer(key).cloned();
        set_key(
            &mut value,
            key,
            "username",
            old.as_ref().map(|c| c.id.as_str()),
        );
        let c = Consumer::from_value(value, source)?;
        self.store_consumer(c, now, old.as_ref())
    }

    /// `DELETE /consumers/{id or username}`: its credentials and plugins go with it.
    pub fn delete_consumer(&mut self, key: &str) -> Result<(), DbError> {
        let Some(id) = self.consumer(key).map(|c| c.id.clone()) else {
            return Ok(());
        };
        for table in self.credentials.values_mut() {
            retain(&mut table.rows, |c| c.consumer_id != id);
        }
        retain(&mut self.plugins, |p| {
            p.consumer.as_ref().is_none_or(|fk| fk.id != id)
        });
        self.consumers.remove(&id);
        Ok(())
    }
}
