//! The run configuration: reference defaults, JSON round trip, clear rejections.
// Native only: the browser runs these checks through tests/web.rs.
#![cfg(not(target_arch = "wasm32"))]

use dermaebm::EbmConfig;

#[test]
fn defaults_are_the_reference_recipe() {
    let c = EbmConfig::default();
    assert_eq!((c.batch_size, c.buffer_size, c.langevin_steps), (128, 8192, 60));
    assert_eq!((c.step_size, c.noise_std, c.grad_clamp, c.alpha, c.lr), (10.0, 0.005, 0.03, 0.1, 1e-4));
    assert_eq!((c.channels, c.image_size, c.width), (3, 28, 32));
    assert_eq!(c.classes, 0, "unconditional unless asked");
    c.validate().unwrap();
}

#[test]
fn json_round_trip_and_partial_json() {
    let c = EbmConfig { batch_size: 64, step_size: 5.0, seed: 9, ..EbmConfig::default() };
    assert_eq!(EbmConfig::from_json(&c.to_json()).unwrap(), c);
    let partial = EbmConfig::from_json(r#"{"batch_size": 16}"#).unwrap();
    assert_eq!(partial, EbmConfig { batch_size: 16, ..EbmConfig::default() });
}

#[test]
fn bad_values_are_rejected_with_the_field_named() {
    let cases: Vec<(&str, &str)> = vec![
        (r#"{"batch_size": 0}"#, "batch_size"),
        (r#"{"step_size": -1}"#, "step_size"),
        (r#"{"lr": 0}"#, "lr"),
        (r#"{"noise_std": -0.1}"#, "noise_std"),
        (r#"{"buffer_size": 8}"#, "buffer_size"),
        // 65,536 RGB images of 64×64 as f32: 3 GB, over the buffer's memory limit.
        (r#"{"buffer_size": 65536, "image_size": 64}"#, "buffer_size"),
        (r#"{"channels": 2}"#, "channels"),
        (r#"{"image_size": 4}"#, "image_size"),
        (r#"{"fresh_fraction": 1.5}"#, "fresh_fraction"),
        (r#"{"lr_decay": 0}"#, "lr_decay"),
        (r#"{"langevin_steps": 0}"#, "langevin_steps"),
        (r#"{"fresh_langevin_steps": 20000}"#, "fresh_langevin_steps"),
        (r#"{"classes": 1}"#, "classes"),
        (r#"{"classes": 300}"#, "classes"),
        (r#"{"class_loss_weight": -1}"#, "class_loss_weight"),
        (r#"{"recipe": "recovery", "recovery": {"unlabelled_fraction": 1.5}}"#, "recovery.unlabelled_fraction"),
        (r#"{"batchsize": 3}"#, "json"),
        (r#"{"batch_size": "many"}"#, "json"),
        ("not json", "json"),
    ];
    for (json, field) in cases {
        let err = EbmConfig::from_json(json).expect_err(json);
        assert_eq!(err.field, field, "{json}: {err}");
        assert!(err.to_string().contains(field), "message names the field: {err}");
    }
}
