//! Picks where tensors live: the GPU through wgpu/WebGPU when there is a real one, otherwise
//! burn's pure-Rust `flex` CPU backend. The choice is reported so the caller can show it.

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

/// What the caller asks for.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendRequest {
    /// A hardware GPU if there is one, else the CPU. A software GPU adapter (SwiftShader,
    /// llvmpipe) counts as no GPU: it is an order of magnitude slower than `flex`.
    #[default]
    Auto,
    /// The GPU adapter, even a software one; the CPU only if there is no adapter at all.
    Gpu,
    /// The CPU (`flex`).
    Cpu,
}

impl std::str::FromStr for BackendRequest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "gpu" | "webgpu" | "wgpu" => Ok(Self::Gpu),
            "cpu" | "flex" => Ok(Self::Cpu),
            other => Err(format!("unknown backend `{other}`: use auto, gpu or cpu")),
        }
    }
}

/// Which backend was chosen, and why.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BackendInfo {
    /// "webgpu" (browser), "wgpu" (native GPU) or "cpu" (flex).
    pub backend: String,
    /// The GPU adapter's name, or a description of the CPU backend.
    pub adapter: String,
    /// The adapter is a software rasteriser (SwiftShader, llvmpipe…).
    pub software_adapter: bool,
    /// A sentence for the user when the choice is not the obvious one (e.g. why the CPU).
    pub note: String,
}

impl BackendInfo {
    fn cpu(note: impl Into<String>) -> Self {
        Self { backend: "cpu".into(), adapter: "CPU (burn flex, pure Rust)".into(), software_adapter: false, note: note.into() }
    }
}

/// Names that software GPU implementations report.
pub fn looks_like_software_adapter(description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    ["swiftshader", "llvmpipe", "lavapipe", "softpipe", "software", "microsoft basic render"].iter().any(|s| d.contains(s))
}

/// Chooses and initialises the device. Never fails: the CPU is always there.
pub async fn select_device(request: BackendRequest) -> (Device, BackendInfo) {
    if request == BackendRequest::Cpu {
        return (Device::flex(), BackendInfo::cpu("CPU chosen by request."));
    }
    match gpu::init(request).await {
        Ok((device, info)) => (device, info),
        Err(reason) => (Device::flex(), BackendInfo::cpu(reason)),
    }
}

#[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
mod gpu {
    use super::*;
    use burn::tensor::wgpu::wgpu::DeviceType;
    use std::sync::OnceLock;

    static GPU: OnceLock<Result<(Device, BackendInfo), String>> = OnceLock::new();

    pub async fn init(request: BackendRequest) -> Result<(Device, BackendInfo), String> {
        // wgpu's runtime initialises once per process; keep the outcome and hand out clones.
        let (device, info) = GPU
            .get_or_init(|| {
                let (device, setup) =
                    Device::wgpu_options().init_with_setup().map_err(|e| format!("No usable GPU ({e}); training runs on the CPU."))?;
                let a = setup.adapter.get_info();
                let software = a.device_type == DeviceType::Cpu || looks_like_software_adapter(&a.name);
                let info = BackendInfo {
                    backend: "wgpu".into(),
                    adapter: format!("{} ({:?})", a.name, a.backend),
                    software_adapter: software,
                    note: String::new(),
                };
                Ok((device, info))
            })
            .clone()?;
        if info.software_adapter && request == BackendRequest::Auto {
            return Err(format!(
                "The only GPU adapter is a software one ({}), slower than the CPU backend; training runs on the CPU.",
                info.adapter
            ));
        }
        Ok((device, info))
    }
}

#[cfg(all(feature = "gpu", target_arch = "wasm32"))]
mod gpu {
    use super::*;
    use js_sys::{Function, Promise, Reflect};
    use std::cell::RefCell;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    thread_local! {
        // WebGPU initialises once per wasm instance; later requests reuse it.
        static GPU: RefCell<Option<(Device, BackendInfo)>> = const { RefCell::new(None) };
    }

    fn get(target: &JsValue, key: &str) -> JsValue {
        Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    }

    fn text(target: &JsValue, key: &str) -> String {
        get(target, key).as_string().unwrap_or_default()
    }

    /// Asks the browser for an adapter and describes it, without starting burn's runtime.
    async fn probe() -> Result<(String, bool), String> {
        let navigator = get(&js_sys::global(), "navigator");
        let gpu = get(&navigator, "gpu");
        if gpu.is_undefined() || gpu.is_null() {
            return Err("This browser has no WebGPU; training runs on the CPU.".into());
        }
        let request: Function = get(&gpu, "requestAdapter")
            .dyn_into()
            .map_err(|_| "navigator.gpu.requestAdapter is missing; training runs on the CPU.".to_string())?;
        let options = js_sys::Object::new();
        let _ = Reflect::set(&options, &"powerPreference".into(), &"high-performance".into());
        let promise: Promise = request
            .call1(&gpu, &options)
            .map_err(|e| format!("WebGPU adapter request failed ({e:?}); training runs on the CPU."))?
            .dyn_into()
            .map_err(|_| "WebGPU adapter request returned no promise; training runs on the CPU.".to_string())?;
        let adapter =
            JsFuture::from(promise).await.map_err(|e| format!("WebGPU adapter request failed ({e:?}); training runs on the CPU."))?;
        if adapter.is_null() || adapter.is_undefined() {
            return Err("WebGPU is present but offers no adapter; training runs on the CPU.".into());
        }
        let info = get(&adapter, "info");
        let parts: Vec<String> =
            ["vendor", "architecture", "device", "description"].iter().map(|k| text(&info, k)).filter(|s| !s.is_empty()).collect();
        let name = if parts.is_empty() { "WebGPU adapter".to_string() } else { parts.join(" ") };
        let fallback = get(&info, "isFallbackAdapter").as_bool().or_else(|| get(&adapter, "isFallbackAdapter").as_bool());
        Ok((name.clone(), fallback.unwrap_or(false) || looks_like_software_adapter(&name)))
    }

    pub async fn init(request: BackendRequest) -> Result<(Device, BackendInfo), String> {
        if let Some(found) = GPU.with(|g| g.borrow().clone()) {
            return check(found, request);
        }
        let (name, software) = probe().await?;
        if software && request == BackendRequest::Auto {
            return Err(format!(
                "The only WebGPU adapter is a software one ({name}), slower than the CPU backend; training runs on the CPU."
            ));
        }
        let device =
            Device::wgpu_options().init_async().await.map_err(|e| format!("WebGPU could not start ({e}); training runs on the CPU."))?;
        let info = BackendInfo { backend: "webgpu".into(), adapter: name, software_adapter: software, note: String::new() };
        GPU.with(|g| *g.borrow_mut() = Some((device.clone(), info.clone())));
        Ok((device, info))
    }

    fn check(found: (Device, BackendInfo), request: BackendRequest) -> Result<(Device, BackendInfo), String> {
        if found.1.software_adapter && request == BackendRequest::Auto {
            return Err(format!("The only WebGPU adapter is a software one ({}); training runs on the CPU.", found.1.adapter));
        }
        Ok(found)
    }
}

/// A build without the GPU backend (the `gpu` feature off, as the native tests build).
#[cfg(not(feature = "gpu"))]
mod gpu {
    use super::*;

    pub async fn init(_request: BackendRequest) -> Result<(Device, BackendInfo), String> {
        Err("This build has no GPU backend (built without the `gpu` feature); training runs on the CPU.".into())
    }
}
