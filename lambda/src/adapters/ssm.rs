//! SSM Parameter Store GetParameters and PutParameter, where older Service Cloud Voice
//! deployments keep their Salesforce values.

use aws_sdk_ssm::types::ParameterType;

use super::aws::classify;
use crate::ports::{Parameter, ParameterStore, SourceError};

pub struct Ssm {
    client: aws_sdk_ssm::Client,
}

impl Ssm {
    pub fn new(client: aws_sdk_ssm::Client) -> Self {
        Self { client }
    }
}

impl ParameterStore for Ssm {
    async fn parameters(&self, names: &[String]) -> Result<Vec<Parameter>, SourceError> {
        let output = self
            .client
            .get_parameters()
            .set_names(Some(names.to_vec()))
            .with_decryption(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(output
            .parameters
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| {
                Some(Parameter {
                    kind: p.r#type.map_or_else(String::new, |t| t.as_str().to_owned()),
                    name: p.name?,
                    value: p.value?,
                })
            })
            .collect())
    }

    async fn put_parameter(
        &self,
        name: &str,
        value: &str,
        kind: &str,
        key_id: Option<&str>,
    ) -> Result<(), SourceError> {
        self.client
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::from(kind))
            .set_key_id(key_id.map(str::to_owned))
            .overwrite(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
