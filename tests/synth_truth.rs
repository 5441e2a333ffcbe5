//! The renderer's ground truth and the pre-training targets made from it, on a hand-made
//! scene: one large cyan sphere straight ahead at a known place. Its depth at the centre
//! pixel, its mask's area, its class and colour labels and its caption's words are worked
//! out here from the geometry, independently of the renderer; then every objective's targets
//! (`cambrian::pretrain::data` through tiny-vit's resize 64 → 71 and centre crop 64) are
//! checked against the maps the renderer wrote.

mod common;

use std::path::Path;

use cambrian::data::synth::render::render;
use cambrian::data::synth::scene::{CAMERA, Look, Object, Scene, Shape};
use cambrian::data::synth::{Config, text, truth, write};
use cambrian::encoders::EncoderSpec;
use cambrian::pretrain::data::{Frame, LABELS, load, patchify, words};
use cambrian::progress::Silent;
use common::scratch;

const SIZE: u32 = 64;
const CYAN: usize = 2;

fn sphere_scene() -> Scene {
    let look = Look { shape: Shape::Sphere, colour: CYAN, size: 1 };
    Scene { objects: vec![Object { look, x: 0.0, z: 6.0, yaw: 0.0 }] }
}

/// Writes the scene as a one-scene synth folder's training set (image, maps, truth.jsonl).
fn write_folder(dir: &Path, scene: &Scene) -> truth::TruthRecord {
    let rendered = render(scene, SIZE);
    std::fs::create_dir_all(dir.join("train/images")).unwrap();
    std::fs::create_dir_all(dir.join("train/truth")).unwrap();
    rendered.rgb.save(dir.join("train/images/000000.png")).unwrap();
    let caption = text::caption(scene, 0, SIZE);
    let record = truth::write(dir, 0, "train/images/000000.png", &caption, scene, &rendered.visible, &rendered.maps).unwrap();
    std::fs::write(dir.join("train/truth.jsonl"), serde_json::to_string(&record).unwrap() + "\n").unwrap();
    record
}

#[test]
fn the_maps_hold_the_spheres_depth_area_and_class() {
    let dir = scratch("synth-truth-maps");
    let scene = sphere_scene();
    let record = write_folder(&dir, &scene);
    let depth = image::open(dir.join(&record.depth)).unwrap().into_luma16();
    let instances = image::open(dir.join(&record.instances)).unwrap().into_luma8();
    let classes = image::open(dir.join(&record.classes)).unwrap().into_luma8();

    // The sphere's centre in camera coordinates, and where it projects.
    let (radius, centre) = (0.95 / 2.0, [0.0, 0.95 / 2.0, 6.0]);
    let c = CAMERA.to_camera(centre);
    let distance = (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt();
    let (u, v) = CAMERA.project(c, SIZE);
    let (px, py) = (u.floor() as u32, v.floor() as u32);
    // The ray through that pixel's centre, in camera coordinates (x right, y down, z forward),
    // meets the sphere at the nearer root of |t·d − c|² = r²; its z is t·d_z.
    let f = CAMERA.focal_px(SIZE);
    let half = SIZE as f64 / 2.0;
    let ray = [(px as f64 + 0.5 - half) / f, (py as f64 + 0.5 - half) / f, 1.0];
    let length = (ray[0] * ray[0] + ray[1] * ray[1] + 1.0).sqrt();
    let d = ray.map(|v| v / length);
    let b = d[0] * c[0] + d[1] * c[1] + d[2] * c[2];
    let t = b - (b * b - (distance * distance - radius * radius)).sqrt();
    let expected_mm = t * d[2] * 1000.0;
    let got_mm = depth.get_pixel(px, py).0[0] as f64;
    // The PNG rounds to 1 mm.
    assert!((got_mm - expected_mm).abs() <= 0.5 + 1e-3, "depth {got_mm} mm, expected {expected_mm:.2} mm");
    assert_eq!(instances.get_pixel(px, py).0[0], 1);
    assert_eq!(classes.get_pixel(px, py).0[0], Shape::Sphere as u8 + 1);
    // Sky at the top row: depth 0, no instance.
    assert_eq!(depth.get_pixel(0, 0).0[0], 0);
    assert_eq!(instances.get_pixel(0, 0).0[0], 0);

    // The mask's area: the sphere's silhouette, a disc of angular radius asin(r / d), seen
    // near the optical axis: π (f·tan(asin(r/d)))² pixels, within 10% (pixel edges, the
    // slight ellipse off the axis).
    let area = instances.pixels().filter(|p| p.0[0] == 1).count();
    let angular = (radius / distance).asin();
    let disc = std::f64::consts::PI * (CAMERA.focal_px(SIZE) * angular.tan()).powi(2);
    assert!((area as f64 / disc - 1.0).abs() < 0.10, "mask area {area} px, disc {disc:.1} px");
    assert_eq!(classes.pixels().filter(|p| p.0[0] == 2).count(), area);
    assert_eq!(classes.pixels().filter(|p| p.0[0] != 0 && p.0[0] != 2).count(), 0);

    let object = &record.objects[0];
    assert_eq!(
        (object.instance, object.shape.as_str(), object.colour.as_str(), object.size.as_str()),
        (1, "sphere", "cyan", "large")
    );
    assert_eq!(object.visible_px, area);
    for (got, want) in object.centre_m.iter().zip(c) {
        assert!((got - want).abs() < 1e-9);
    }
    assert_eq!(record.caption, "1 object on a checkered floor: a large cyan sphere in the middle halfway back.");
}

/// Crop pixel → source pixel for tiny-vit's preprocessing of a 64 px image, written out:
/// pad (none: square), resize to 71, centre crop 64 starting at round(7 / 2) = 4.
fn source_pixel(x: usize) -> usize {
    (((x as f64 + 0.5 + 4.0) * 64.0 / 71.0).floor() as usize).min(63)
}

#[test]
fn each_objectives_targets_follow_the_ground_truth() {
    let dir = scratch("synth-truth-targets");
    let scene = sphere_scene();
    let record = write_folder(&dir, &scene);
    let spec = EncoderSpec::from_file(Path::new("sweeps/encoders/tiny-vit.toml")).unwrap();
    let frame = Frame { resolution: 64, patch: 16, grid: [4, 4] };
    let set = load(&dir, &spec, &frame).unwrap();
    let item = &set.items[0];
    let depth = image::open(dir.join(&record.depth)).unwrap().into_luma16();
    let instances = image::open(dir.join(&record.instances)).unwrap().into_luma8();
    // The sphere is cyan (colour 2): its pixels are class 2 + 1 × 7 + 2 = 11.
    let sphere_class = 2 + Shape::Sphere as u8 * 7 + CYAN as u8;

    // depth and segment: in patch order, token (r, c) pixel (dy, dx) is crop pixel
    // (16c + dx, 16r + dy), taken from the source pixel under its centre.
    for (i, (&disparity, &class)) in item.disparity.iter().zip(&item.classes).enumerate() {
        let (token, inner) = (i / 256, i % 256);
        let (x, y) = ((token % 4) * 16 + inner % 16, (token / 4) * 16 + inner / 16);
        let (sx, sy) = (source_pixel(x) as u32, source_pixel(y) as u32);
        let mm = depth.get_pixel(sx, sy).0[0];
        let want = if mm == 0 { 0.0 } else { 1000.0 / mm as f32 };
        assert!((disparity - want).abs() < 1e-6, "pixel {i}: disparity {disparity}, ground truth {want}");
        let want = match (instances.get_pixel(sx, sy).0[0], mm) {
            (1, _) => sphere_class,
            (0, 0) => 0,
            (0, _) => 1,
            (other, _) => panic!("pixel {i}: instance {other} in a one-object scene"),
        };
        assert_eq!(class, want, "pixel {i}");
    }
    assert!([0, 1, sphere_class].iter().all(|c| item.classes.contains(c)), "sky, ground and the sphere are all seen");

    // classify: sphere (shape 1) and cyan (colour 2) present, nothing else.
    let mut labels = [0.0; LABELS];
    labels[Shape::Sphere as usize] = 1.0;
    labels[3 + CYAN] = 1.0;
    assert_eq!(item.labels, labels);

    // contrastive: the caption's words, through the vocabulary.
    let decoded: Vec<&str> = item.words.iter().map(|&w| set.vocabulary[w].as_str()).collect();
    assert_eq!(
        decoded,
        "1 object on a checkered floor a large cyan sphere in the middle halfway back".split(' ').collect::<Vec<_>>()
    );
    assert_eq!(words("A 2-Cube, floor."), ["a", "2", "cube", "floor"]);

    // masked and denoise: the preprocessed image, [3, 64, 64], in patch order; token 5
    // (row 1, column 1), pixel (3, 2), channel 1 is the image's (x 19, y 18), channel 1.
    let image = image::open(dir.join(&record.image)).unwrap().into_rgb8();
    assert_eq!(item.pixels, spec.preprocess.apply(&image));
    let patches = patchify(&frame, &item.pixels, 3);
    assert_eq!(patches.len(), 3 * 64 * 64);
    assert_eq!(patches[(5 * 256 + 2 * 16 + 3) * 3 + 1], item.pixels[64 * 64 + 18 * 64 + 19]);
}

#[test]
fn synth_writes_the_truth_of_every_training_scene_deterministically() {
    let dir = scratch("synth-truth-write");
    let config = Config { open_samples: 0, open_train_samples: 0, ..Config::new(4, 6, SIZE, 5) };
    let (a, b) = (dir.join("a"), dir.join("b"));
    write(&config, &a, &Silent).unwrap();
    write(&config, &b, &Silent).unwrap();
    let lines = std::fs::read_to_string(a.join("train/truth.jsonl")).unwrap();
    assert_eq!(lines, std::fs::read_to_string(b.join("train/truth.jsonl")).unwrap());
    assert_eq!(lines.lines().count(), 6);
    for (i, line) in lines.lines().enumerate() {
        let record: truth::TruthRecord = serde_json::from_str(line).unwrap();
        assert_eq!(record.image, format!("train/images/{i:06}.png"));
        for name in [&record.depth, &record.instances, &record.classes] {
            assert_eq!(std::fs::read(a.join(name)).unwrap(), std::fs::read(b.join(name)).unwrap(), "{name}");
        }
        let instances = image::open(a.join(&record.instances)).unwrap().into_luma8();
        for object in &record.objects {
            let area = instances.pixels().filter(|p| p.0[0] == object.instance).count();
            assert_eq!(area, object.visible_px, "scene {i}, object {}", object.instance);
        }
    }

    // A folder without its ground truth (an older synth), or missing one map: the error names
    // the file and says to make the folder again.
    let spec = EncoderSpec::from_file(Path::new("sweeps/encoders/tiny-vit.toml")).unwrap();
    let frame = Frame { resolution: 64, patch: 16, grid: [4, 4] };
    std::fs::remove_file(b.join("train/truth/000003-instances.png")).unwrap();
    let err = load(&b, &spec, &frame).err().unwrap().to_string();
    assert!(err.contains("000003-instances.png") && err.contains("cambrian synth"), "{err}");
    std::fs::remove_file(b.join("train/truth.jsonl")).unwrap();
    let err = load(&b, &spec, &frame).err().unwrap().to_string();
    assert!(err.contains("train/truth.jsonl") && err.contains("cambrian synth"), "{err}");
}
