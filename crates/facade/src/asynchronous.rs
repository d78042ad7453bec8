//! Invoking plugins from async code.
//!
//! wasmer calls are synchronous and may run for up to their deadline, so an
//! async embedder must not make them on an async worker thread.
//! [`AsyncInvoke::invoke_async`] runs the call on tokio's blocking thread
//! pool and awaits its outcome, so the async runtime keeps serving other
//! tasks while plugins run.

use std::future::Future;

use bitvault_runtime::{CallContext, InvokeError, Metrics, Outcome, Prepared};
use bytes::Bytes;

/// Async invocation of a [`Prepared`] plugin, on tokio's blocking pool.
pub trait AsyncInvoke {
    /// Invokes `export` like [`Prepared::invoke`], on a blocking-pool
    /// thread of the current tokio runtime.
    ///
    /// # Panics
    /// When called outside a tokio runtime.
    fn invoke_async(
        &self,
        export: &str,
        input: impl Into<Bytes>,
        ctx: &CallContext,
    ) -> impl Future<Output = Outcome> + Send + 'static;
}

impl AsyncInvoke for Prepared {
    fn invoke_async(
        &self,
        export: &str,
        input: impl Into<Bytes>,
        ctx: &CallContext,
    ) -> impl Future<Output = Outcome> + Send + 'static {
        let (plugin, export, input, ctx) =
            (self.clone(), export.to_owned(), input.into(), ctx.clone());
        let task = tokio::task::spawn_blocking(move || plugin.invoke(&export, input, &ctx));
        async move {
            match task.await {
                Ok(outcome) => outcome,
                // The runtime contains guest failures and host-function
                // panics itself; a join error is a host bug or a shutdown.
                Err(e) => Outcome {
                    invocation_id: 0,
                    result: Err(InvokeError::HostPanic {
                        message: format!("the invocation task failed: {e}"),
                    }),
                    metrics: Metrics::default(),
                    http: Vec::new(),
                },
            }
        }
    }
}
