//! Ground truth of the training scenes, straight from the renderer, for the pre-training
//! objectives (`cambrian pretrain`): per scene `train/truth/NNNNNN-depth.png`,
//! `NNNNNN-instances.png`, `NNNNNN-classes.png` and one line of `train/truth.jsonl`.
//!
//! - depth: 16-bit greyscale PNG, camera-space z (along the optical axis) in millimetres;
//!   0 where the ray meets the sky; far ground beyond 65.535 m saturates at 65535 (objects
//!   stand 3 to 11 m away). numpy: `np.asarray(PIL.Image.open(p), dtype=np.uint16) / 1000`.
//! - instances: 8-bit greyscale PNG, object index + 1 per pixel (the line's `instance`), 0 for
//!   the ground and the sky.
//! - classes: 8-bit greyscale PNG, shape index + 1 per pixel (cube 1, sphere 2, cylinder 3),
//!   0 for the ground and the sky; colours per instance are in the object list.
//! - truth.jsonl: the image, the maps, the caption, the camera's focal length and, per object,
//!   its shape, colour and size (names and indices), its 3D box in camera coordinates (x
//!   right, y down, z forward, metres: centre and 8 corners, as the benchmark's Omni3D-style
//!   boxes), its visible pixels and visible 2D box.
//!
//! The maps describe the rendering without the box prompts; the training image has them drawn
//! just outside the boxed objects (see `train/images/`).

use std::path::Path;

use image::{GrayImage, ImageBuffer, Luma};
use serde::{Deserialize, Serialize};

use super::render::Maps;
use super::scene::{CAMERA, COLOURS, SIZES, Scene};
use crate::data::DataError;

/// Depth PNG unit and largest value: millimetres, saturating at 65.535 m.
pub const DEPTH_MM_PER_M: f64 = 1000.0;

/// One scene's line of `train/truth.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthRecord {
    pub id: String,
    /// Paths relative to the synth folder.
    pub image: String,
    pub depth: String,
    pub instances: String,
    pub classes: String,
    pub caption: String,
    /// Focal length of the pinhole camera in pixels; the principal point is the image centre.
    pub focal_px: f64,
    pub objects: Vec<ObjectRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// Its value in the instance mask.
    pub instance: u8,
    pub shape: String,
    /// Index into cube, sphere, cylinder; the class mask holds it + 1.
    pub shape_index: usize,
    pub colour: String,
    pub colour_index: usize,
    pub size: String,
    /// Cube side, sphere and cylinder diameter and height, metres.
    pub extent_m: f64,
    /// 3D box in camera coordinates, metres.
    pub centre_m: [f64; 3],
    pub corners_m: [[f64; 3]; 8],
    pub visible_px: usize,
    /// Visible 2D box `[x0, y0, x1, y1]`, pixels (x1, y1 exclusive).
    pub box_2d: [f64; 4],
}

/// File names of scene `index`'s maps, relative to the synth folder.
pub fn map_names(index: u64) -> [String; 3] {
    ["depth", "instances", "classes"].map(|kind| format!("train/truth/{index:06}-{kind}.png"))
}

/// The depth map in the PNG's unit: rounded millimetres, 0 for the sky.
pub fn depth_mm(maps: &Maps) -> Vec<u16> {
    maps.depth_m.iter().map(|&z| (z as f64 * DEPTH_MM_PER_M).round().clamp(0.0, u16::MAX as f64) as u16).collect()
}

/// Shape index + 1 per pixel, 0 for the ground and the sky.
pub fn class_mask(scene: &Scene, maps: &Maps) -> Vec<u8> {
    let class_of = |instance: u8| match instance {
        0 => 0,
        i => scene.objects[i as usize - 1].look.shape as u8 + 1,
    };
    maps.instances.iter().map(|&i| class_of(i)).collect()
}

/// Writes the three maps of scene `index` (its rendering's `visible` objects and `maps`)
/// under `root` and returns its record.
pub fn write(
    root: &Path,
    index: u64,
    image: &str,
    caption: &str,
    scene: &Scene,
    visible: &[(usize, [f64; 4])],
    maps: &Maps,
) -> Result<TruthRecord, DataError> {
    let size = maps.side;
    let [depth, instances, classes] = map_names(index);
    let save_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DataError::Image { path, source }
    };
    let path = root.join(&depth);
    let depth_png: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_raw(size, size, depth_mm(maps)).expect("one depth per pixel");
    depth_png.save(&path).map_err(save_error(&path))?;
    for (name, mask) in [(&instances, maps.instances.clone()), (&classes, class_mask(scene, maps))] {
        let path = root.join(name);
        GrayImage::from_raw(size, size, mask).expect("one id per pixel").save(&path).map_err(save_error(&path))?;
    }
    let objects = scene
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let (corners, centre) = scene.camera_box(i);
            let (visible_px, box_2d) = visible[i];
            ObjectRecord {
                instance: i as u8 + 1,
                shape: o.look.shape.name().to_string(),
                shape_index: o.look.shape as usize,
                colour: COLOURS[o.look.colour].0.to_string(),
                colour_index: o.look.colour,
                size: SIZES[o.look.size].0.to_string(),
                extent_m: o.extent(),
                centre_m: centre,
                corners_m: corners,
                visible_px,
                box_2d,
            }
        })
        .collect();
    Ok(TruthRecord {
        id: format!("synth-{index:06}"),
        image: image.to_string(),
        depth,
        instances,
        classes,
        caption: caption.to_string(),
        focal_px: CAMERA.focal_px(size),
        objects,
    })
}
