//! Secrets Manager GetSecretValue and PutSecretValue.

use super::aws::classify;
use crate::ports::{SecretStore, SourceError};

pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

impl SecretStore for SecretsManager {
    async fn secret_string(&self, secret_id: &str) -> Result<String, SourceError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(classify)?;
        output.secret_string.ok_or_else(|| SourceError::Other {
            message: "the secret has no SecretString (binary secrets are not supported)".into(),
            source: "SecretString missing".into(),
        })
    }

    async fn put_secret_string(&self, secret_id: &str, value: &str) -> Result<(), SourceError> {
        self.client
            .put_secret_value()
            .secret_id(secret_id)
            .secret_string(value)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
