//! The SDK adapter: every AWS call the CLI makes, returning domain types.

use std::time::SystemTime;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::primitives::ByteStream;
use thiserror::Error;

use crate::domain::progress::{ItemCounts, MapRun};
use crate::domain::report::{Execution, ExecutionStatus};

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, Error)]
pub enum AwsError {
    /// A call that failed; the source says why (service error, network, credentials).
    #[error("{call}")]
    Call {
        call: String,
        #[source]
        source: BoxError,
    },
    /// A response this tool cannot use.
    #[error("{call} returned {problem}")]
    Response { call: String, problem: String },
}

fn call_error<E>(call: impl Into<String>) -> impl FnOnce(E) -> AwsError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let call = call.into();
    move |source| AwsError::Call {
        call,
        source: Box::new(source),
    }
}

/// The three clients the CLI uses.
#[derive(Debug, Clone)]
pub struct Aws {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub sfn: aws_sdk_sfn::Client,
}

impl Aws {
    /// Credentials, region and endpoints from the standard chain (`AWS_ENDPOINT_URL` included).
    pub async fn from_env() -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::from_sdk_config(&sdk)
    }

    pub fn from_sdk_config(sdk: &SdkConfig) -> Self {
        Self {
            cloudformation: aws_sdk_cloudformation::Client::new(sdk),
            s3: contact_data_sync::adapters::aws::s3_client(sdk),
            sfn: aws_sdk_sfn::Client::new(sdk),
        }
    }

    /// The outputs of a CloudFormation stack, key and value.
    pub async fn stack_outputs(&self, stack: &str) -> Result<Vec<(String, String)>, AwsError> {
        let call = || format!("CloudFormation DescribeStacks of stack {stack}");
        let response = self
            .cloudformation
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(call_error(call()))?;
        let Some(found) = response.stacks().first() else {
            return Err(AwsError::Response {
                call: call(),
                problem: "no stack".into(),
            });
        };
        Ok(found
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect())
    }

    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), AwsError> {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(call_error(format!("S3 PutObject of s3://{bucket}/{key}")))?;
        Ok(())
    }

    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, AwsError> {
        let call = format!("S3 GetObject of s3://{bucket}/{key}");
        let response = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(call_error(call.clone()))?;
        let body = response.body.collect().await.map_err(call_error(call))?;
        Ok(body.to_vec())
    }

    /// Starts an execution; returns its ARN.
    pub async fn start_execution(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> Result<String, AwsError> {
        let response = self
            .sfn
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await
            .map_err(call_error(format!(
                "Step Functions StartExecution of {state_machine_arn}"
            )))?;
        Ok(response.execution_arn().to_owned())
    }

    pub async fn describe_execution(&self, execution_arn: &str) -> Result<Execution, AwsError> {
        let call = || format!("Step Functions DescribeExecution of {execution_arn}");
        let r = self
            .sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(call_error(call()))?;
        Ok(Execution {
            arn: r.execution_arn().to_owned(),
            name: r
                .name()
                .map(str::to_owned)
                .unwrap_or_else(|| name_from_arn(execution_arn)),
            status: ExecutionStatus::from_name(r.status().as_str()),
            start: time(r.start_date(), call)?,
            stop: r.stop_date().map(|d| time(d, call)).transpose()?,
            output: r.output().map(str::to_owned),
            error: r.error().map(str::to_owned),
            cause: r.cause().map(str::to_owned),
        })
    }

    /// The ARN of the execution's Map Run, the latest if there are several; none before the
    /// Distributed Map has started.
    pub async fn find_map_run(&self, execution_arn: &str) -> Result<Option<String>, AwsError> {
        let response = self
            .sfn
            .list_map_runs()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(call_error(format!(
                "Step Functions ListMapRuns of {execution_arn}"
            )))?;
        Ok(response
            .map_runs()
            .iter()
            .max_by_key(|run| run.start_date().as_nanos())
            .map(|run| run.map_run_arn().to_owned()))
    }

    pub async fn describe_map_run(&self, map_run_arn: &str) -> Result<MapRun, AwsError> {
        let call = || format!("Step Functions DescribeMapRun of {map_run_arn}");
        let r = self
            .sfn
            .describe_map_run()
            .map_run_arn(map_run_arn)
            .send()
            .await
            .map_err(call_error(call()))?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let counts = r
            .item_counts()
            .map_or_else(ItemCounts::default, |c| ItemCounts {
                pending: count(c.pending()),
                running: count(c.running()),
                succeeded: count(c.succeeded()),
                failed: count(c.failed()),
                timed_out: count(c.timed_out()),
                aborted: count(c.aborted()),
                total: count(c.total()),
                results_written: count(c.results_written()),
            });
        Ok(MapRun {
            arn: r.map_run_arn().to_owned(),
            status: r.status().as_str().to_owned(),
            start: time(r.start_date(), call)?,
            stop: r.stop_date().map(|d| time(d, call)).transpose()?,
            counts,
        })
    }
}

fn time(
    date: &aws_smithy_types::DateTime,
    call: impl Fn() -> String,
) -> Result<SystemTime, AwsError> {
    SystemTime::try_from(*date).map_err(|e| AwsError::Response {
        call: call(),
        problem: format!("a date out of range ({e})"),
    })
}

/// `arn:…:execution:<state machine>:<name>` → `<name>`.
fn name_from_arn(arn: &str) -> String {
    arn.rsplit(':').next().unwrap_or(arn).to_owned()
}
