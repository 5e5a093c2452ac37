//! The app protocols' codec: libp2p's CBOR codec with a size limit, counting every message it
//! refuses. libp2p's request-response drops a request that fails to decode without any event
//! (it only logs), so counting has to happen here or malformed input would go unseen.

use std::io;
use std::sync::Arc;

use futures::{AsyncRead, AsyncWrite};
use libp2p::request_response::{self as rr, cbor};
use libp2p::StreamProtocol;

use serde::{de::DeserializeOwned, Serialize};

use super::stats::{bump, Stats};

pub struct CountedCodec<Req, Resp> {
    inner: cbor::codec::Codec<Req, Resp>,
    stats: Arc<Stats>,
}

impl<Req, Resp> Clone for CountedCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            stats: self.stats.clone(),
        }
    }
}

impl<Req, Resp> CountedCodec<Req, Resp> {
    /// A codec refusing any message over `max` bytes.
    pub fn new(stats: Arc<Stats>, max: u64) -> Self {
        Self {
            inner: cbor::codec::Codec::default()
                .set_request_size_maximum(max)
                .set_response_size_maximum(max),
            stats,
        }
    }

    fn counted<T>(&self, read: io::Result<T>) -> io::Result<T> {
        if read.is_err() {
            // Malformed CBOR, or cut off at the size limit (an oversized message).
            bump(&self.stats.malformed, 1);
        }
        read
    }
}

impl<Req, Resp> rr::Codec for CountedCodec<Req, Resp>
where
    Req: Send + Serialize + DeserializeOwned,
    Resp: Send + Serialize + DeserializeOwned,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        let read = self.inner.read_request(p, io).await;
        self.counted(read)
    }

    async fn read_response<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        let read = self.inner.read_response(p, io).await;
        self.counted(read)
    }

    async fn write_request<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        request: Req,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.inner.write_request(p, io, request).await
    }

    async fn write_response<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        response: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.inner.write_response(p, io, response).await
    }
}
