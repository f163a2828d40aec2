//! Topics: the user's own categories, which the classifier may assign (never invent).

use uuid::Uuid;

use super::Vault;
use crate::db::topics::{self as q, TopicFields, TopicRow};
use crate::error::{Error, Result};
use docuvault_domain::{TopicColor, TopicDescription, TopicName};

/// A topic as the client writes it; validated into [`TopicFields`].
#[derive(Debug, Clone)]
pub struct TopicInput {
    pub name: String,
    pub description: Option<String>,
    pub color: Option<String>,
}

impl TopicInput {
    fn validate(&self) -> Result<TopicFields> {
        Ok(TopicFields {
            name: TopicName::parse(&self.name)?,
            description: TopicDescription::parse(self.description.as_deref().unwrap_or(""))?,
            color: match self.color.as_deref() {
                Some(c) => TopicColor::parse(c)?,
                None => TopicColor::default_color(),
            },
        })
    }
}

impl Vault {
    pub async fn list_topics(&self, owner: Uuid) -> Result<Vec<TopicRow>> {
        q::list(&self.db, owner).await
    }

    pub async fn create_topic(&self, owner: Uuid, input: &TopicInput) -> Result<TopicRow> {
        q::create(&self.db, owner, &input.validate()?).await
    }

    pub async fn update_topic(
        &self,
        owner: Uuid,
        id: Uuid,
        input: &TopicInput,
    ) -> Result<TopicRow> {
        q::update(&self.db, owner, id, &input.validate()?)
            .await?
            .ok_or(Error::NotFound("topic"))
    }

    pub async fn delete_topic(&self, owner: Uuid, id: Uuid) -> Result<()> {
        if q::delete(&self.db, owner, id).await? {
            Ok(())
        } else {
            Err(Error::NotFound("topic"))
        }
    }
}
