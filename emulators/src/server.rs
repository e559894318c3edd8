//! Running an emulator: binding a loopback port, the middleware every emulator shares
//! (counters, latency, request log) and the [`Emulators`] bundle of all of them.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::world::{Service, World};

/// A running emulator on 127.0.0.1; it shuts down when dropped.
pub struct Server {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Server {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The server task may already be gone with its runtime; nothing to do then.
            let _ = shutdown.send(());
        }
    }
}

/// Binds 127.0.0.1:`port` (0 = any free port).
///
/// # Panics
/// When the port cannot be bound: tests and the sandbox cannot go on without their emulator.
pub(crate) async fn bind(port: u16) -> (TcpListener, String) {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:{port}: {e}"));
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    (listener, format!("http://{addr}"))
}

/// Serves `router` on `listener` in a background task, behind the shared middleware.
pub(crate) fn serve(
    listener: TcpListener,
    world: &World,
    service: Service,
    router: Router,
) -> Server {
    let router = router.layer(middleware::from_fn_with_state(
        (world.clone(), service),
        observe,
    ));
    let (addr, shutdown) = spawn_server(listener, router, "emulator");
    Server {
        addr,
        shutdown: Some(shutdown),
    }
}

/// Serves `router` in a background task until the returned sender fires or is dropped.
pub(crate) fn spawn_server(
    listener: TcpListener,
    router: Router,
    what: &'static str,
) -> (SocketAddr, oneshot::Sender<()>) {
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let stopped = async {
            let _ = stopped.await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(stopped)
            .await
        {
            eprintln!("{what} on {addr} stopped: {e}");
        }
    });
    (addr, shutdown)
}

/// Decrements the in-flight count even when the client abandons the request mid-way.
struct InFlight {
    world: World,
    service: Service,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.world.request_ended(self.service);
    }
}

/// Counts the request, applies the service's latency and logs the outcome when asked to.
async fn observe(
    State((world, service)): State<(World, Service)>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    world.request_started(service);
    let _in_flight = InFlight {
        world: world.clone(),
        service,
    };
    let latency = world.latency(service);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = next.run(request).await;
    let status = response.status();
    let throttled = status.as_u16() == 429
        || response
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("ThrottlingException"));
    if world.record_response(service, status.as_u16() >= 400, throttled) {
        eprintln!(
            "[{}] {method} {path} -> {}",
            service.name(),
            status.as_u16()
        );
    }
    response
}

/// Ports for [`Emulators::start_on`]; 0 picks a free port.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ports {
    pub connect: u16,
    pub contact_lens: u16,
    pub secrets_manager: u16,
    pub salesforce: u16,
    pub ssm: u16,
    pub s3: u16,
}

/// All the emulators over one [`World`].
pub struct Emulators {
    pub connect: Server,
    pub contact_lens: Server,
    pub secrets_manager: Server,
    pub salesforce: Server,
    pub ssm: Server,
    pub s3: Server,
}

/// Dummy credentials: the emulators only check that requests are signed.
pub const TEST_ACCESS_KEY_ID: &str = "AKIAEMULATORTEST0001";
pub const TEST_SECRET_ACCESS_KEY: &str = "emulator/test/secret/access/key/0000000";

impl Emulators {
    /// Starts them all on free ports.
    pub async fn start(world: &World) -> Emulators {
        Emulators::start_on(world, Ports::default()).await
    }

    pub async fn start_on(world: &World, ports: Ports) -> Emulators {
        Emulators {
            connect: crate::connect::start_on(world, ports.connect).await,
            contact_lens: crate::contact_lens::start_on(world, ports.contact_lens).await,
            secrets_manager: crate::secrets_manager::start_on(world, ports.secrets_manager).await,
            salesforce: crate::salesforce::start_salesforce_on(world, ports.salesforce).await,
            ssm: crate::ssm::start_on(world, ports.ssm).await,
            s3: crate::s3::start_on(world, ports.s3).await,
        }
    }

    /// The environment that points the AWS SDK at the emulators: endpoint overrides, region and
    /// dummy credentials. (The Salesforce URL travels inside the secret instead.)
    pub fn aws_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL_CONNECT", self.connect.url()),
            (
                "AWS_ENDPOINT_URL_CONNECT_CONTACT_LENS",
                self.contact_lens.url(),
            ),
            (
                "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                self.secrets_manager.url(),
            ),
            ("AWS_ENDPOINT_URL_SSM", self.ssm.url()),
            // S3 clients must also use path-style addressing: `/{bucket}/{key}` on this host.
            ("AWS_ENDPOINT_URL_S3", self.s3.url()),
            ("AWS_REGION", crate::aws::REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY.to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
    }
}
