//! The session's rules (the state behind the browser's engine and `debm train`): what a new
//! configuration or new data discards or sets aside, how a run starts (fresh, continuing a file
//! or a run, from another file's net), which model samples, which chains and which classifier
//! belong to the model in use, and a run held by a step refused rather than waited for.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use std::collections::BTreeMap;
use std::rc::Rc;

use burn::module::Module;
use dermaebm::checkpoint::Contents;
use dermaebm::data::{Dataset, Limits};
use dermaebm::inference::{Classifier, energies, features, read_values};
use dermaebm::model::ClassProbe;
use dermaebm::model::probe::fingerprint;
use dermaebm::persistent::ChainSnapshot;
use dermaebm::platform::block_on;
use dermaebm::session::{Current, Provenance, Session, SessionError, SharedRun, Start};
use dermaebm::training_run::{RunError, TrainingRun};
use dermaebm::weights::{WeightsFile, model_bytes};
use dermaebm::{Device, EbmConfig, EnergyNet, NetShape, Trainer, synthetic};

fn config() -> EbmConfig {
    EbmConfig { batch_size: 8, buffer_size: 64, langevin_steps: 3, ..common::tiny_config(3) }
}

/// `n` side×side grayscale pattern images as a loaded training split, labelled when asked.
fn patterns(n: usize, side: usize, labelled: bool) -> Dataset {
    let (values, labels) = synthetic::labelled_pattern_values(n, 1, side, 0.05, 7);
    let pixels: Vec<u8> = values.iter().map(|v| ((v + 1.0) * 127.5).round() as u8).collect();
    let images = common::npy("|u1", &[n, side, side], &pixels, false, 1);
    let labels = common::npy("|u1", &[n], &labels.iter().map(|&l| l as u8).collect::<Vec<_>>(), false, 1);
    let mut files = vec![("train_images.npy", images.as_slice())];
    if labelled {
        files.push(("train_labels.npy", labels.as_slice()));
    }
    Dataset::load(&files, Limits::default()).expect("the patterns load")
}

/// A session on 20 unlabelled patterns whose fresh run of `config()` trained `steps` iterations.
fn trained(steps: u64) -> (Session, Rc<SharedRun>) {
    let mut session = Session::new(Device::flex());
    session.load_dataset(patterns(20, 12, false));
    session.set_config(config()).expect("the configuration fits the data");
    let run = session.start_training(Start::Fresh).expect("a run starts");
    for _ in 0..steps {
        block_on(run.next()).expect("a step");
    }
    (session, run)
}

/// A checkpoint (Adam's state and the replay buffer in it, noted "a test run") of a run trained
/// 2 iterations, and that run's Adam state.
fn checkpoint() -> (Vec<u8>, Adam) {
    let (_, run) = trained(2);
    let run = run.read().expect("idle");
    let contents = Contents { optimizer: true, buffer: true, newest_chains: None };
    (block_on(run.checkpoint(contents, "a test run")).expect("it saves"), adam(&run))
}

fn decode(bytes: &[u8]) -> WeightsFile {
    WeightsFile::decode(bytes).expect("it decodes")
}

/// Adam's state, by name: each parameter's moments (the bytes of their values) and step count,
/// named by the parameter's id (which a continued or resumed run keeps) and the leaf. Read from
/// the record's burnpack bytes, which list the tensors in a hash map's order; its debug text
/// only counts them (zeroed or wrong moments would compare equal).
type Adam = BTreeMap<String, Vec<u8>>;

fn adam_of(optimizer: &burn::optim::ModuleOptimizer) -> Adam {
    use burn_pack::Reader;
    let reader = Reader::from_bytes(optimizer.into_bytes().expect("Adam's state serialises")).expect("a burnpack record");
    let mut state: Adam = reader.tensor_names().into_iter().map(|n| (n.to_string(), reader.tensor_data(n).expect("its values"))).collect();
    state.extend(reader.scalars().iter().map(|(n, v)| (n.clone(), format!("{v:?}").into_bytes())));
    state
}

fn adam(run: &TrainingRun) -> Adam {
    adam_of(run.trainer().optimizer())
}

/// The names in Adam's state (which parameters it holds state for, and what state): the same
/// after a step when the step kept to the same parameters.
fn adam_names(run: &TrainingRun) -> Vec<String> {
    adam(run).into_keys().collect()
}

/// Asserts two Adam states are the same, naming what differs (their dumps are large).
fn assert_same_adam(a: &Adam, b: &Adam, what: &str) {
    let differ: Vec<&String> = a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).collect();
    assert!(differ.is_empty(), "{what}: {} of {} entries differ: {differ:?}", differ.len(), a.len().max(b.len()));
}

/// Adam's second moments of a trained run are there and not all zero, so that equal states mean
/// something (the first moments are 0 with this recipe's β₁ = 0).
fn assert_moments_are_real(state: &Adam) {
    let moments: Vec<&Vec<u8>> = state.iter().filter(|(n, _)| n.ends_with("moment_2")).map(|(_, v)| v).collect();
    assert!(!moments.is_empty(), "Adam holds second moments: {:?}", state.keys().collect::<Vec<_>>());
    assert!(moments.iter().all(|m| m.iter().any(|&b| b != 0)), "every second-moment tensor has non-zero values");
}

/// Energies of six fixed images: equal for the same net, different for another.
fn energies_of(model: &EnergyNet) -> Vec<f32> {
    let images = synthetic::patterns(6, 1, 12, 0.05, 11, &Device::flex());
    block_on(energies(model, images, 6)).expect("energies")
}

/// The replay buffer's images, labels and ages.
fn buffer_of(run: &TrainingRun) -> (Vec<f32>, Vec<i32>, Vec<u32>) {
    let buffer = run.trainer().buffer();
    let images = buffer.contents().map_or_else(Vec::new, |t| block_on(read_values(t)).expect("read"));
    (images, buffer.labels().to_vec(), buffer.ages().to_vec())
}

#[test]
fn a_configuration_of_another_architecture_discards_the_model_its_chains_and_its_iteration() {
    let (bytes, _) = checkpoint();
    let chains = ChainSnapshot::from_file(&decode(&bytes)).expect("chains").expect("the checkpoint keeps its buffer").len();
    assert!(chains > 0);
    let mut session = Session::new(Device::flex());
    session.load_dataset(patterns(20, 12, false));
    session.load_weights(decode(&bytes)).expect("the weights fit the data");
    assert_eq!((session.iteration(), session.persistent_chains()), (2, chains));

    // Settings that keep the architecture keep the model, its iteration and its chains.
    session.set_config(EbmConfig { lr: 1e-4, ..config() }).expect("valid");
    assert!(matches!(session.current(), Current::Loaded(_)));
    assert_eq!((session.iteration(), session.persistent_chains()), (2, chains));

    // Another width: the model goes, and everything that was its goes with it.
    session.set_config(EbmConfig { width: 12, ..config() }).expect("valid");
    assert!(matches!(session.current(), Current::Empty));
    assert!(!session.has_model());
    assert_eq!((session.iteration(), session.persistent_chains()), (0, 0), "no iteration or chains of a model that is gone");
    assert!(matches!(session.model(), Err(SessionError::NoModel)));
    assert!(matches!(session.chains(), Err(SessionError::NoModel)));
    assert!(session.classifier().is_none());
    assert!(matches!(session.start_training(Start::Continue), Err(SessionError::NothingToContinue)));
}

#[test]
fn data_of_another_shape_or_labels_discards_the_model_and_what_was_its() {
    let (bytes, _) = checkpoint();
    let mut session = Session::new(Device::flex());
    session.load_weights(decode(&bytes)).expect("no data to disagree with");
    session.load_dataset(patterns(20, 12, false));
    assert_eq!((session.iteration(), session.persistent_chains()), (2, 16), "data that fits keeps the model");
    // Another image size: the configuration takes the data's; the 12×12 net no longer fits.
    session.load_dataset(patterns(20, 16, false));
    assert_eq!(session.config().image_size, 16);
    assert!(!session.has_model());
    assert_eq!((session.iteration(), session.persistent_chains()), (0, 0));

    // Data without labels turns a class-conditional configuration unconditional: its run goes.
    let mut session = Session::new(Device::flex());
    session.load_dataset(patterns(20, 12, true));
    session.set_config(EbmConfig { classes: synthetic::PATTERNS, ..config() }).expect("the labels fit");
    let run = session.start_training(Start::Fresh).expect("a run starts");
    block_on(run.next()).expect("a step");
    assert_eq!((session.iteration(), session.persistent_chains()), (1, 8));
    session.load_dataset(patterns(20, 12, false));
    assert_eq!(session.config().classes, 0);
    assert!(!session.has_model());
    assert_eq!((session.iteration(), session.persistent_chains()), (0, 0));
}

#[test]
fn a_configuration_or_weights_the_data_cannot_take_are_refused_and_nothing_changes() {
    let (bytes, _) = checkpoint();
    let mut session = Session::new(Device::flex());
    session.load_dataset(patterns(20, 12, false));
    session.load_weights(decode(&bytes)).expect("the weights fit the data");
    let refused = |result: Result<(), SessionError>| match result {
        Err(SessionError::Run(RunError::Data(message))) => message,
        other => panic!("expected the data to refuse it, got {other:?}"),
    };
    let message = refused(session.set_config(EbmConfig { classes: 4, ..config() }));
    assert!(message.contains("needs labels"), "{message}");
    let message = refused(session.set_config(EbmConfig { channels: 3, ..config() }));
    assert!(message.contains("set channels=1 and image_size=12"), "{message}");

    let wide = EbmConfig { image_size: 16, ..config() };
    let net = EnergyNet::new(NetShape::from(&wide), &Device::flex());
    let bytes16 = block_on(model_bytes(&net, NetShape::from(&wide))).expect("bytes");
    let other = WeightsFile::encode(&wide, 5, "", vec![("model".into(), bytes16)]);
    let refused = session.load_weights(decode(&other));
    assert!(matches!(&refused, Err(SessionError::WeightsDoNotFitData(m)) if m.contains("1-channel 16×16")), "{refused:?}");

    assert_eq!(session.config(), &config(), "the configuration is the loaded file's still");
    assert!(matches!(session.current(), Current::Loaded(_)));
    assert_eq!(session.iteration(), 2);
}

#[test]
fn a_change_of_settings_or_data_sets_the_run_aside_and_continuing_carries_on_exactly() {
    let (mut session, run) = trained(2);
    let model = energies_of(&session.model().expect("the run's model"));
    session.set_config(EbmConfig { lr: 5e-4, ..config() }).expect("valid");
    assert!(matches!(session.current(), Current::Trained(_)));
    assert!(!session.is_training(&run), "a handle to the old run is told it was discarded");
    assert_eq!(session.iteration(), 2);
    assert_eq!(energies_of(&session.model().expect("still a model")), model, "its model stays in use");

    let next = session.start_training(Start::Continue).expect("it continues");
    assert!(session.is_training(&next));
    {
        let (old, new) = (run.read().expect("idle"), next.read().expect("idle"));
        assert_eq!(new.iteration(), 2, "the iteration goes on");
        assert_eq!(new.trainer().config().lr, 5e-4, "under the new settings");
        assert_eq!(energies_of(new.trainer().model()), energies_of(old.trainer().model()), "the same weights");
        assert_moments_are_real(&adam(&old));
        assert_same_adam(&adam(&new), &adam(&old), "Adam's state comes along, every moment");
        let fresh = Trainer::new(config(), &Device::flex()).expect("valid");
        assert!(adam(&new) != adam_of(fresh.optimizer()), "not a new optimiser");
        assert_eq!(buffer_of(&new), buffer_of(&old), "the replay buffer, exactly");
        assert_eq!(new.trainer().drift_level(), old.trainer().drift_level());
    }
    assert_eq!(block_on(next.next()).expect("a step").stats.iteration, 3);
    // Adam's state is keyed by parameter: had the net's parameters changed identity, the step
    // would have started a second state beside the carried one.
    assert_eq!(adam_names(&next.read().expect("idle")), adam_names(&run.read().expect("idle")), "the same parameters' state");

    // Data that still fits sets the run aside too: continuing trains the same net on it.
    session.load_dataset(patterns(24, 12, false));
    assert!(matches!(session.current(), Current::Trained(_)));
    let on_new_data = session.start_training(Start::Continue).expect("it continues");
    let run = on_new_data.read().expect("idle");
    assert_eq!((run.iteration(), run.rows()), (3, 24));
}

#[test]
fn continuing_a_loaded_checkpoint_resumes_its_iteration_optimiser_and_chains() {
    let (bytes, adam_saved) = checkpoint();
    let mut session = Session::new(Device::flex());
    session.load_dataset(patterns(20, 12, false));
    session.load_weights(decode(&bytes)).expect("the weights fit the data");
    let run = session.start_training(Start::Continue).expect("it resumes");
    {
        let resumed = run.read().expect("idle");
        assert_eq!(resumed.iteration(), 2);
        assert_moments_are_real(&adam_saved);
        assert_same_adam(&adam(&resumed), &adam_saved, "Adam's state came back from the file, every moment");
        assert_eq!(resumed.trainer().buffer().len(), 16, "and the replay buffer");
    }
    assert_eq!(run.provenance(), &Provenance::Continued { note: "a test run".into() });
    assert_eq!(block_on(run.next()).expect("a step").stats.iteration, 3);
    let stepped = adam(&run.read().expect("idle"));
    assert!(stepped.keys().eq(adam_saved.keys()), "the state of the same parameters, stepped");
    assert!(stepped != adam_saved, "and the step moved it");
}

#[test]
fn a_fresh_run_starts_at_iteration_zero_from_a_new_net() {
    let (bytes, _) = checkpoint();
    let loaded = energies_of(&decode(&bytes).model(&Device::flex()).expect("the net"));
    let mut session = Session::new(Device::flex());
    session.load_dataset(patterns(20, 12, false));
    session.load_weights(decode(&bytes)).expect("the weights fit the data");
    let run = session.start_training(Start::Fresh).expect("a run starts");
    assert_eq!(session.iteration(), 0, "the new run's iteration, not the loaded file's");
    assert_eq!(session.persistent_chains(), 0, "nor its chains");
    let fresh = Trainer::new(config(), &Device::flex()).expect("valid");
    assert_same_adam(&adam(&run.read().expect("idle")), &adam_of(fresh.optimizer()), "a new optimiser");
    assert_ne!(energies_of(&session.model().expect("the new net")), loaded);
    assert_eq!(run.provenance(), &Provenance::New);
}

#[test]
fn sampling_uses_the_training_runs_model_while_it_exists() {
    let (bytes, _) = checkpoint();
    let loaded = energies_of(&decode(&bytes).model(&Device::flex()).expect("the net"));
    let mut session = Session::new(Device::flex());
    session.load_dataset(patterns(20, 12, false));
    session.load_weights(decode(&bytes)).expect("the weights fit the data");
    assert_eq!(energies_of(&session.model().expect("loaded")), loaded);

    let run = session.start_training(Start::Fresh).expect("a run starts");
    block_on(run.next()).expect("a step");
    let trained = energies_of(&run.read().expect("idle").trainer().sampling_model().valid());
    assert_ne!(trained, loaded);
    assert_eq!(energies_of(&session.model().expect("the run's")), trained);
    // Set aside by new settings, the run's model is still the one in use, not the file's.
    session.set_config(EbmConfig { lr: 1e-4, ..config() }).expect("valid");
    assert_eq!(energies_of(&session.model().expect("the run's")), trained);
    // Weights loaded again replace it.
    session.load_weights(decode(&bytes)).expect("the weights fit the data");
    assert_eq!(energies_of(&session.model().expect("loaded")), loaded);
}

#[test]
fn a_recovery_run_samples_with_its_moving_average() {
    let mut session = Session::new(Device::flex());
    session.load_dataset(patterns(20, 12, false));
    session.set_config(EbmConfig { batch_size: 8, ..common::tiny_recovery_config(5) }).expect("valid");
    let run = session.start_training(Start::Fresh).expect("a run starts");
    block_on(run.next()).expect("a step");
    let (average, trained) = {
        let run = run.read().expect("idle");
        (energies_of(run.trainer().ema().expect("a moving average")), energies_of(run.trainer().model()))
    };
    assert_ne!(average, trained, "one update moved the weights away from their average");
    assert_eq!(energies_of(&session.model().expect("the run's")), average);
}

#[test]
fn the_chains_are_those_of_the_model_in_use() {
    let (bytes, _) = checkpoint();
    let mut session = Session::new(Device::flex());
    session.load_dataset(patterns(20, 12, false));
    session.load_weights(decode(&bytes)).expect("the weights fit the data");
    let chains = block_on(session.chains().expect("the file's").read()).expect("read");
    assert_eq!(chains.len(), 16);

    // A new run has none of its own yet, and the file's belong to another net.
    let run = session.start_training(Start::Fresh).expect("a run starts");
    assert!(matches!(block_on(session.chains().expect("the run's").read()), Err(SessionError::NoRunChains)));
    block_on(run.next()).expect("a step");
    assert_eq!(session.persistent_chains(), 8);
    assert_eq!(block_on(session.chains().expect("the run's").read()).expect("read").len(), 8);

    // Weights saved without chains have none to continue.
    let net = block_on(model_bytes(&decode(&bytes).model(&Device::flex()).expect("net"), NetShape::from(&config()))).expect("bytes");
    session.load_weights(decode(&WeightsFile::encode(&config(), 2, "", vec![("model".into(), net)]))).expect("loads");
    assert!(matches!(session.chains(), Err(SessionError::NoFileChains)));
    assert_eq!(session.persistent_chains(), 0);
}

#[test]
fn the_files_probe_classifies_while_its_net_is_in_use_else_a_class_head() {
    let (bytes, _) = checkpoint();
    let file = decode(&bytes);
    let net = file.model(&Device::flex()).expect("the net");
    let (pixels, labels) = synthetic::labelled_pattern_values(16, 1, 12, 0.05, 9);
    let images = dermaebm::Tensor::from_data(burn::tensor::TensorData::new(pixels, [16, 1, 12, 12]), &Device::flex());
    let values = block_on(features(&net, images, 16)).expect("features");
    let labels: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
    let width = NetShape::from(&config()).feature_width();
    let print = fingerprint(file.section("model").expect("a model"));
    let probe = ClassProbe::fit(&values, width, &labels, synthetic::PATTERNS, 1e-3, print).expect("a probe");

    let mut session = Session::new(Device::flex());
    session.load_dataset(patterns(20, 12, true));
    session.load_weights(decode(&file.with_probe(&probe))).expect("the weights fit the data");
    let classifier = session.classifier().expect("the probe");
    assert_eq!((classifier.kind(), classifier.classes()), (Classifier::Probe, synthetic::PATTERNS));

    // A run's net is not the one the probe was fitted on; this unconditional one has no head.
    session.start_training(Start::Continue).expect("it continues");
    assert!(session.classifier().is_none());
    // A class-conditional net answers with its head.
    session.set_config(EbmConfig { classes: synthetic::PATTERNS, ..config() }).expect("the labels fit");
    assert!(session.classifier().is_none(), "no model, no classifier");
    session.start_training(Start::Fresh).expect("a run starts");
    let classifier = session.classifier().expect("the head");
    assert_eq!((classifier.kind(), classifier.classes()), (Classifier::Head, synthetic::PATTERNS));
}

#[test]
fn a_run_started_from_a_files_net_grows_it_and_says_where_it_came_from() {
    let (bytes, _) = checkpoint();
    let file = decode(&bytes);
    let start = Start::From { file: &file, name: "start.debm" };
    let mut session = Session::new(Device::flex());
    session.load_dataset(patterns(20, 12, true));

    // Class-conditional: the net gets a class head; its unlabelled chains stay out.
    session.set_config(EbmConfig { classes: synthetic::PATTERNS, ..config() }).expect("the labels fit");
    let run = session.start_training(start).expect("it starts from the file");
    {
        let run = run.read().expect("idle");
        assert_eq!((run.iteration(), run.trainer().model().classes(), run.trainer().buffer().len()), (0, synthetic::PATTERNS, 0));
    }
    let provenance = Provenance::StartedFrom { name: "start.debm".into(), iteration: 2, widened: None, note: "a test run".into() };
    assert_eq!(run.provenance(), &provenance);
    assert_eq!(session.note("this run"), "this run; it started from start.debm (2 iterations: a test run)");

    // Wider: the same energy, so its chains seed the buffer.
    session.set_config(EbmConfig { width: 12, ..config() }).expect("valid");
    let run = session.start_training(Start::From { file: &file, name: "start.debm" }).expect("it starts from the file");
    {
        let run = run.read().expect("idle");
        assert_eq!((run.iteration(), run.trainer().model().width(), run.trainer().buffer().len()), (0, 12, 16));
    }
    assert!(session.note("this run").contains("(2 iterations, widened from width 8 to 12: a test run)"));

    // What a run cannot grow into is refused with a reason (noise levels, a narrower net).
    for config in [EbmConfig { batch_size: 8, ..common::tiny_recovery_config(3) }, EbmConfig { width: 6, ..config() }] {
        session.set_config(config).expect("valid");
        match session.start_training(Start::From { file: &file, name: "start.debm" }) {
            Err(SessionError::CannotGrow(message)) => assert!(message.contains("start.debm holds a net for 1×12×12"), "{message}"),
            Err(other) => panic!("refused for another reason: {other}"),
            Ok(_) => panic!("a run started from a net it cannot grow from"),
        }
    }
}

#[test]
fn a_continued_run_keeps_its_files_note_and_a_new_one_describes_itself() {
    assert_eq!(Provenance::New.note("this run"), "this run");
    assert_eq!(Provenance::Continued { note: "the first run".into() }.note("this run"), "the first run");
    assert_eq!(Provenance::Continued { note: String::new() }.note("this run"), "this run");

    let (bytes, _) = checkpoint();
    let mut session = Session::new(Device::flex());
    session.load_dataset(patterns(20, 12, false));
    assert_eq!(session.note("this run"), "this run");
    session.load_weights(decode(&bytes)).expect("the weights fit the data");
    assert_eq!(session.note("this run"), "a test run");
    session.start_training(Start::Continue).expect("it continues");
    session.set_config(EbmConfig { lr: 1e-4, ..config() }).expect("valid");
    session.start_training(Start::Continue).expect("it carries on");
    assert_eq!(session.note("this run"), "a test run", "through a run set aside and carried on");
    session.start_training(Start::Fresh).expect("a new run");
    assert_eq!(session.note("this run"), "this run");
}

#[test]
fn a_run_held_by_a_step_is_refused_not_waited_for() {
    let (session, run) = trained(1);
    let held = run.read().expect("idle");
    assert!(matches!(block_on(run.next()), Err(SessionError::Busy)));
    assert!(matches!(session.model(), Err(SessionError::Busy)));
    assert_eq!((session.iteration(), session.persistent_chains()), (1, 8), "what the session reports needs no lock");
    drop(held);
    assert!(session.model().is_ok());

    // `debm train` takes the run for itself once nothing else shares it.
    assert!(session.into_run().is_none(), "the handle still shares it");
    let (session, run) = trained(1);
    drop(run);
    let (run, provenance) = session.into_run().expect("the run alone");
    assert_eq!((run.iteration(), provenance), (1, Provenance::New));
}

/// A recovery run's file starts a class-conditional recovery run: the same net with class rows
/// at 0 (so every class begins as the file's energy), its moving average from the file's net, and
/// the probe (not a head) as its classifier.
#[test]
fn a_recovery_net_starts_a_class_conditional_recovery_run_as_the_same_energy() {
    let recovery = EbmConfig { batch_size: 8, ..common::tiny_recovery_config(5) };
    let mut session = Session::new(Device::flex());
    session.load_dataset(patterns(20, 12, true));
    session.set_config(recovery.clone()).expect("valid");
    let run = session.start_training(Start::Fresh).expect("a run starts");
    block_on(run.next()).expect("a step");
    let bytes = block_on(run.read().expect("idle").checkpoint(Contents { optimizer: true, buffer: true, newest_chains: None }, "r"))
        .expect("it saves");
    let file = decode(&bytes);
    let unconditional = energies_of(&file.model(&Device::flex()).expect("its net"));

    session.set_config(EbmConfig { classes: synthetic::PATTERNS, ..recovery }).expect("recovery with classes is valid");
    let run = session.start_training(Start::From { file: &file, name: "recovery.debm" }).expect("it starts from the file");
    let run = run.read().expect("idle");
    let model = run.trainer().sampling_model();
    assert_eq!((run.iteration(), model.classes(), model.head_classes(), model.levels()), (0, synthetic::PATTERNS, 0, 4));
    assert_eq!(energies_of(model), unconditional, "f(x, 0) of any class is the file's");
    assert!(session.classifier().is_none(), "no probe yet, and a recovery net has no class head to classify with");
}
