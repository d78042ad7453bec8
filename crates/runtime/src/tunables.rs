//! Per-invocation memory and table ceilings.
//!
//! wasmer's tunables belong to an `Engine` value, not to a store. An `Engine`
//! clone shares the compiled code but carries its own tunables, so every
//! invocation clones the module's engine and attaches a [`CallTunables`] that
//! knows that call's ceilings. Memories are wrapped in [`CeilingMemory`],
//! which refuses growth past the ceiling and records the refusal, so that a
//! trap that follows a refused `memory.grow` is reported as `memory_limit`.
//!
//! This module implements wasmer's `Tunables` and `LinearMemory` traits,
//! whose memory-creation methods are `unsafe fn`s; it is one of the three
//! modules of this crate allowed to contain `unsafe` code.
#![allow(unsafe_code)]

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wasmer::sys::vm::{
    LinearMemory, MemoryError, MemoryStyle, TableStyle, ThreadConditions, VMMemory,
    VMMemoryDefinition, VMTable, VMTableDefinition,
};
use wasmer::sys::{BaseTunables, Tunables};
use wasmer::{MemoryType, Pages, TableType, WASM_PAGE_SIZE};

/// Which ceiling refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Linear memory, in bytes.
    Memory,
    /// Table elements.
    Table,
}

impl Resource {
    /// The stable lower-case name used in outcomes.
    pub const fn name(self) -> &'static str {
        match self {
            Resource::Memory => "memory",
            Resource::Table => "table",
        }
    }
}

/// A refused allocation: what was asked for and what the ceiling allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The resource whose ceiling refused the request.
    pub resource: Resource,
    /// The size requested (bytes for memory, elements for tables).
    pub requested: u64,
    /// The ceiling (bytes for memory, elements for tables).
    pub allowed: u64,
}

/// The ceilings of one invocation and what the guest did against them.
#[derive(Debug)]
pub(crate) struct CallCeilings {
    memory_pages: u64,
    table_elements: u32,
    /// Bytes of linear memory currently allocated, summed over memories,
    /// plus host-side memory charged with `charge_host`.
    current_bytes: AtomicU64,
    /// The largest value `current_bytes` reached.
    peak_bytes: AtomicU64,
    /// The first refusal, if any.
    refusal: Mutex<Option<Refusal>>,
}

impl CallCeilings {
    pub(crate) fn new(memory_bytes: u64, table_elements: u32) -> CallCeilings {
        CallCeilings {
            memory_pages: memory_bytes / WASM_PAGE_SIZE as u64,
            table_elements,
            current_bytes: AtomicU64::new(0),
            peak_bytes: AtomicU64::new(0),
            refusal: Mutex::new(None),
        }
    }

    pub(crate) fn peak_bytes(&self) -> u64 {
        self.peak_bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn refusal(&self) -> Option<Refusal> {
        *self.refusal.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refuse(&self, refusal: Refusal) {
        let mut slot = self.refusal.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(refusal);
    }

    fn allocated(&self, bytes: u64) {
        let now = self.current_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak_bytes.fetch_max(now, Ordering::Relaxed);
    }

    fn allowed_memory_bytes(&self) -> u64 {
        self.memory_pages * WASM_PAGE_SIZE as u64
    }

    /// Charges `bytes` of host-side guest memory (the Extism kernel's
    /// arena) against the same ceiling as linear memory, or refuses them,
    /// recording the refusal. Linear memory and host-side memory share the
    /// one `memory_bytes` budget, as the kernel memory and the plugin's
    /// memory share Extism's page limit.
    pub(crate) fn charge_host(&self, bytes: u64) -> Result<(), Refusal> {
        let allowed = self.allowed_memory_bytes();
        let mut current = self.current_bytes.load(Ordering::Relaxed);
        loop {
            let wanted = current.saturating_add(bytes);
            if wanted > allowed {
                let refusal = Refusal {
                    resource: Resource::Memory,
                    requested: wanted,
                    allowed,
                };
                self.refuse(refusal);
                return Err(refusal);
            }
            match self.current_bytes.compare_exchange_weak(
                current,
                wanted,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.peak_bytes.fetch_max(wanted, Ordering::Relaxed);
                    return Ok(());
                }
                Err(now) => current = now,
            }
        }
    }

    /// Returns `bytes` charged with [`CallCeilings::charge_host`].
    pub(crate) fn release_host(&self, bytes: u64) {
        // Saturating: a release never takes more than was charged.
        let _ = self
            .current_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                Some(c.saturating_sub(bytes))
            });
    }
}

/// Tunables that delegate to wasmer's defaults (so memory styles match what
/// the module was compiled with) but apply one invocation's ceilings.
pub(crate) struct CallTunables {
    base: BaseTunables,
    ceilings: Arc<CallCeilings>,
}

impl CallTunables {
    pub(crate) fn new(ceilings: Arc<CallCeilings>) -> CallTunables {
        CallTunables {
            base: BaseTunables::new(),
            ceilings,
        }
    }

    /// The memory type with its maximum lowered to the ceiling, or the
    /// refusal if its minimum is already above it.
    fn bounded_memory(&self, ty: &MemoryType) -> Result<MemoryType, MemoryError> {
        let ceiling = self.ceilings.memory_pages;
        // What is already charged (host-side memory such as the Extism
        // arena's input block) counts against the same ceiling.
        let charged = self.ceilings.current_bytes.load(Ordering::Relaxed);
        let requested = u64::from(ty.minimum.0) * WASM_PAGE_SIZE as u64;
        if u64::from(ty.minimum.0) > ceiling
            || charged.saturating_add(requested) > self.ceilings.allowed_memory_bytes()
        {
            self.ceilings.refuse(Refusal {
                resource: Resource::Memory,
                requested: charged.saturating_add(requested),
                allowed: self.ceilings.allowed_memory_bytes(),
            });
            return Err(MemoryError::MinimumMemoryTooLarge {
                min_requested: ty.minimum,
                max_allowed: Pages(ceiling as u32),
            });
        }
        let mut bounded = *ty;
        let ceiling = Pages(ceiling.min(u64::from(u32::MAX)) as u32);
        bounded.maximum = Some(ty.maximum.map_or(ceiling, |m| m.min(ceiling)));
        Ok(bounded)
    }

    fn bounded_table(&self, ty: &TableType) -> Result<TableType, String> {
        let ceiling = self.ceilings.table_elements;
        if ty.minimum > ceiling {
            self.ceilings.refuse(Refusal {
                resource: Resource::Table,
                requested: u64::from(ty.minimum),
                allowed: u64::from(ceiling),
            });
            return Err(format!(
                "table minimum of {} elements exceeds the ceiling of {ceiling}",
                ty.minimum
            ));
        }
        let mut bounded = *ty;
        bounded.maximum = Some(ty.maximum.map_or(ceiling, |m| m.min(ceiling)));
        Ok(bounded)
    }

    fn wrap(&self, memory: VMMemory) -> VMMemory {
        self.ceilings
            .allocated(u64::from(memory.size().0) * WASM_PAGE_SIZE as u64);
        VMMemory(Box::new(CeilingMemory {
            inner: memory,
            ceilings: self.ceilings.clone(),
        }))
    }
}

impl Tunables for CallTunables {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        self.base.memory_style(memory)
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }

    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        let ty = self.bounded_memory(ty)?;
        Ok(self.wrap(self.base.create_host_memory(&ty, style)?))
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        let ty = self.bounded_memory(ty)?;
        // SAFETY: the caller guarantees `vm_definition_location` points to a
        // valid, owned `VMMemoryDefinition` (this method's contract); it is
        // passed through unchanged. The wrapper keeps the created memory and
        // delegates `vmmemory()` to it, so the definition stays the one the
        // engine wrote.
        let memory = unsafe {
            self.base
                .create_vm_memory(&ty, style, vm_definition_location)?
        };
        Ok(self.wrap(memory))
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        let ty = self.bounded_table(ty)?;
        self.base.create_host_table(&ty, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        let ty = self.bounded_table(ty)?;
        // SAFETY: the caller guarantees `vm_definition_location` points to a
        // valid, owned `VMTableDefinition`; it is passed through unchanged.
        unsafe {
            self.base
                .create_vm_table(&ty, style, vm_definition_location)
        }
    }
}

/// A linear memory that refuses to grow past the call's ceiling and records
/// the refusal and the peak size.
#[derive(Debug)]
struct CeilingMemory {
    inner: VMMemory,
    ceilings: Arc<CallCeilings>,
}

impl LinearMemory for CeilingMemory {
    fn ty(&self) -> MemoryType {
        self.inner.ty()
    }

    fn size(&self) -> Pages {
        self.inner.size()
    }

    fn style(&self) -> MemoryStyle {
        self.inner.style()
    }

    fn grow(&mut self, delta: Pages) -> Result<Pages, MemoryError> {
        let current = u64::from(self.inner.size().0);
        let wanted = current + u64::from(delta.0);
        // Host-side memory charged to the call (the Extism arena) counts
        // against the same ceiling; without it this is the memory's size.
        let total = self
            .ceilings
            .current_bytes
            .load(Ordering::Relaxed)
            .saturating_add(u64::from(delta.0) * WASM_PAGE_SIZE as u64);
        if wanted > self.ceilings.memory_pages || total > self.ceilings.allowed_memory_bytes() {
            self.ceilings.refuse(Refusal {
                resource: Resource::Memory,
                requested: total.max(wanted * WASM_PAGE_SIZE as u64),
                allowed: self.ceilings.allowed_memory_bytes(),
            });
            return Err(MemoryError::CouldNotGrow {
                current: self.inner.size(),
                attempted_delta: delta,
            });
        }
        let previous = self.inner.grow(delta)?;
        self.ceilings
            .allocated(u64::from(delta.0) * WASM_PAGE_SIZE as u64);
        Ok(previous)
    }

    fn vmmemory(&self) -> NonNull<VMMemoryDefinition> {
        self.inner.vmmemory()
    }

    fn try_clone(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        self.inner.try_clone().map(|m| m.0)
    }

    fn copy(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        self.inner.copy()
    }

    fn thread_conditions(&self) -> Option<&ThreadConditions> {
        self.inner.thread_conditions()
    }
}
