//! Running an emulator: binding a loopback port, the middleware every emulator shares
//! (counters, latency, request log) and the [`Emulators`] bundle of all of them.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::connect_info::Connected;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
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

/// Serves `router` in a background task until the returned sender fires or is dropped. Handlers
/// can drop their connection through the [`ConnectionCloser`] in their `ConnectInfo`.
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
        let listener = ClosableListener(listener);
        let service = router.into_make_service_with_connect_info::<ConnectionCloser>();
        if let Err(e) = axum::serve(listener, service)
            .with_graceful_shutdown(stopped)
            .await
        {
            eprintln!("{what} on {addr} stopped: {e}");
        }
    });
    (addr, shutdown)
}

/// Lets a handler drop its connection without an answer, as a network that loses the response
/// does: once closed, the connection refuses every write, so not one byte of the response (not
/// even its status line) leaves, and hyper gives the connection up. Other connections go on.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionCloser(Arc<AtomicBool>);

impl ConnectionCloser {
    pub(crate) fn close(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Connected<IncomingStream<'_, ClosableListener>> for ConnectionCloser {
    fn connect_info(stream: IncomingStream<'_, ClosableListener>) -> Self {
        stream.io().closer.clone()
    }
}

/// A TCP listener whose connections a [`ConnectionCloser`] can close.
struct ClosableListener(TcpListener);

impl Listener for ClosableListener {
    type Io = ClosableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (ClosableStream, SocketAddr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        let closer = ConnectionCloser(Arc::new(AtomicBool::new(false)));
        (ClosableStream { stream, closer }, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

struct ClosableStream {
    stream: TcpStream,
    closer: ConnectionCloser,
}

impl ClosableStream {
    fn check_open(&self) -> io::Result<()> {
        if self.closer.0.load(Ordering::Relaxed) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the emulator closed the connection",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for ClosableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClosableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check_open()?;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check_open()?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
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

tokio::task_local! {
    /// Where the request being handled is recorded in the world, when requests are recorded.
    static RECORDED_REQUEST: Option<usize>;
}

/// Notes what the request being handled is about in its record, if it has one.
pub(crate) fn note_request_about(world: &World, about: &[&str]) {
    if let Ok(Some(at)) = RECORDED_REQUEST.try_with(|at| *at) {
        world.request_about(at, about);
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
    let recorded = world.request_started(service, method.as_str(), &path);
    let _in_flight = InFlight {
        world: world.clone(),
        service,
    };
    let latency = world.latency(service);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    // The handler notes what the request is about when it checks for faults.
    let response = RECORDED_REQUEST.scope(recorded, next.run(request)).await;
    let status = response.status();
    let throttled = status.as_u16() == 429
        || response
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("ThrottlingException"));
    if world.record_response(service, recorded, status.as_u16(), throttled) {
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
    pub sqs: u16,
}

/// All the emulators over one [`World`].
pub struct Emulators {
    pub connect: Server,
    pub contact_lens: Server,
    pub secrets_manager: Server,
    pub salesforce: Server,
    pub ssm: Server,
    pub s3: Server,
    pub sqs: Server,
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
            sqs: crate::sqs::start_on(world, ports.sqs).await,
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
            ("AWS_ENDPOINT_URL_SQS", self.sqs.url()),
            ("AWS_REGION", crate::aws::REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY.to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
    }
}
