use contact_data_sync::adapters::aws::sdk_config_loader;
use contact_data_sync::config::Config;
use contact_data_sync::handler::Invocation;
use contact_data_sync::{AwsClients, build_app};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let clients = AwsClients::from_sdk_config(&sdk_config_loader(config.retry).load().await);
    let app = build_app(&config, clients)?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let invocation = Invocation {
            deadline: event.context.deadline(),
            function_name: event.context.env_config.function_name.clone(),
            executed_version: event.context.env_config.version.clone(),
        };
        // Boxed: the handler future is deep enough to exceed the compiler's layout depth limit.
        Box::pin(app.handle(&event.payload, &invocation))
            .await
            .map_err(Error::from)
    }))
    .await
}
