//! The pairing protocol's codec: libp2p's CBOR codec with its size limits, counting every message
//! it refuses. libp2p's request-response drops a request that fails to decode without any event
//! (it only logs), so counting has to happen here or malformed input would go unseen.

use std::io;
use std::sync::Arc;

use futures::{AsyncRead, AsyncWrite};
use libp2p::request_response::{self as rr, cbor};
use libp2p::StreamProtocol;

use super::protocol::{PairRequest, PairResponse, MAX_PAIR_MESSAGE};
use super::stats::{bump, Stats};

#[derive(Clone)]
pub struct PairCodec {
    inner: cbor::codec::Codec<PairRequest, PairResponse>,
    stats: Arc<Stats>,
}

impl PairCodec {
    pub fn new(stats: Arc<Stats>) -> Self {
        Self {
            inner: cbor::codec::Codec::default()
                .set_request_size_maximum(MAX_PAIR_MESSAGE)
                .set_response_size_maximum(MAX_PAIR_MESSAGE),
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

impl rr::Codec for PairCodec {
    type Protocol = StreamProtocol;
    type Request = PairRequest;
    type Response = PairResponse;

    async fn read_request<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<PairRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let read = self.inner.read_request(p, io).await;
        self.counted(read)
    }

    async fn read_response<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<PairResponse>
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
        request: PairRequest,
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
        response: PairResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        self.inner.write_response(p, io, response).await
    }
}
