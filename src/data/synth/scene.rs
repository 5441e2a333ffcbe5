//! Scene graphs of the synthetic benchmark: objects of three shapes, seven colours and two
//! sizes standing on a ground plane (world: x right, y up, z forward, metres), seen by a
//! pinhole camera 2 m up, pitched 20° down, 50° field of view. 3D boxes are reported in camera
//! coordinates as Omni3D does (x right, y down, z forward).

use rand::Rng;

pub type Vec3 = [f64; 3];

pub fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Cube,
    Sphere,
    Cylinder,
}

impl Shape {
    pub const ALL: [Shape; 3] = [Shape::Cube, Shape::Sphere, Shape::Cylinder];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Cube => "cube",
            Shape::Sphere => "sphere",
            Shape::Cylinder => "cylinder",
        }
    }
}

/// Object colours; none is red, blue or green, the colours of the box prompts.
pub const COLOURS: [(&str, [u8; 3]); 7] = [
    ("yellow", [230, 200, 40]),
    ("purple", [140, 70, 170]),
    ("cyan", [40, 190, 200]),
    ("orange", [240, 130, 30]),
    ("brown", [130, 85, 45]),
    ("pink", [240, 140, 180]),
    ("white", [235, 235, 235]),
];

/// Size words and their extents (cube side, sphere and cylinder diameter and height), metres.
pub const SIZES: [(&str, f64); 2] = [("small", 0.55), ("large", 0.95)];

/// What a question can say about an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    pub shape: Shape,
    pub colour: usize,
    pub size: usize,
}

impl Look {
    pub fn random(rng: &mut impl Rng) -> Self {
        Look {
            shape: Shape::ALL[rng.random_range(0..Shape::ALL.len())],
            colour: rng.random_range(0..COLOURS.len()),
            size: rng.random_range(0..SIZES.len()),
        }
    }

    /// "large yellow cube".
    pub fn describe(&self) -> String {
        format!("{} {} {}", SIZES[self.size].0, COLOURS[self.colour].0, self.shape.name())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub look: Look,
    /// Ground position, metres.
    pub x: f64,
    pub z: f64,
    /// Rotation about the vertical axis (cubes), radians.
    pub yaw: f64,
}

impl Object {
    pub fn extent(&self) -> f64 {
        SIZES[self.look.size].1
    }

    pub fn centre(&self) -> Vec3 {
        [self.x, self.extent() / 2.0, self.z]
    }

    /// Radius of the circle the object covers on the ground.
    pub fn footprint(&self) -> f64 {
        let half = self.extent() / 2.0;
        if self.look.shape == Shape::Cube { half * std::f64::consts::SQRT_2 } else { half }
    }

    /// The 8 corners of the object's 3D box, world coordinates (a cube's box turns with it).
    pub fn corners(&self) -> [Vec3; 8] {
        let h = self.extent() / 2.0;
        let yaw = if self.look.shape == Shape::Cube { self.yaw } else { 0.0 };
        let (s, c) = yaw.sin_cos();
        let mut out = [[0.0; 3]; 8];
        for (i, corner) in out.iter_mut().enumerate() {
            let (lx, ly, lz) = (sign(i & 1) * h, sign(i & 2) * h, sign(i & 4) * h);
            *corner = [self.x + c * lx + s * lz, h + ly, self.z - s * lx + c * lz];
        }
        out
    }
}

fn sign(bit: usize) -> f64 {
    if bit == 0 { -1.0 } else { 1.0 }
}

#[derive(Debug, Clone, Copy)]
pub struct Camera {
    pub height_m: f64,
    pub pitch_rad: f64,
    pub fov_rad: f64,
}

pub const CAMERA: Camera =
    Camera { height_m: 2.0, pitch_rad: 20.0 * std::f64::consts::PI / 180.0, fov_rad: 50.0 * std::f64::consts::PI / 180.0 };

impl Camera {
    pub fn origin(&self) -> Vec3 {
        [0.0, self.height_m, 0.0]
    }

    /// Right, up and forward axes in world coordinates.
    pub fn axes(&self) -> (Vec3, Vec3, Vec3) {
        let (s, c) = self.pitch_rad.sin_cos();
        ([1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c])
    }

    /// Focal length in pixels for a square image of `size` pixels.
    pub fn focal_px(&self, size: u32) -> f64 {
        size as f64 / 2.0 / (self.fov_rad / 2.0).tan()
    }

    /// World → camera coordinates (x right, y down, z forward).
    pub fn to_camera(&self, p: Vec3) -> Vec3 {
        let (r, u, f) = self.axes();
        let d = sub(p, self.origin());
        [dot(d, r), -dot(d, u), dot(d, f)]
    }

    /// Camera coordinates → pixel position in a square image of `size` pixels.
    pub fn project(&self, p: Vec3, size: u32) -> (f64, f64) {
        let f = self.focal_px(size);
        let half = size as f64 / 2.0;
        (half + f * p[0] / p[2], half + f * p[1] / p[2])
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub objects: Vec<Object>,
}

/// Ground area objects are placed in: depth along the ground, metres.
const NEAR_M: f64 = 3.0;
const FAR_M: f64 = 10.0;
/// Free space kept between footprints, metres.
const GAP_M: f64 = 0.15;

impl Scene {
    /// Places `looks` at random without overlaps, inside the view; `None` when crowded.
    pub fn place(looks: &[Look], rng: &mut impl Rng) -> Option<Scene> {
        let half_fov_tan = (CAMERA.fov_rad / 2.0).tan();
        let mut objects: Vec<Object> = Vec::with_capacity(looks.len());
        for look in looks {
            let mut placed = false;
            for _ in 0..100 {
                let z = rng.random_range(NEAR_M..FAR_M);
                let half_width = 0.85 * z * half_fov_tan;
                let candidate = Object {
                    look: *look,
                    x: rng.random_range(-half_width..half_width),
                    z,
                    yaw: rng.random_range(0.0..std::f64::consts::FRAC_PI_2),
                };
                let clear = objects
                    .iter()
                    .all(|o| norm([o.x - candidate.x, 0.0, o.z - candidate.z]) > o.footprint() + candidate.footprint() + GAP_M);
                if clear {
                    objects.push(candidate);
                    placed = true;
                    break;
                }
            }
            if !placed {
                return None;
            }
        }
        Some(Scene { objects })
    }

    /// Nearest and farthest corner distance of object `i` from `point` (camera coordinates).
    pub fn corner_range(&self, i: usize, point: Vec3) -> (f64, f64) {
        self.objects[i]
            .corners()
            .iter()
            .map(|c| norm(sub(CAMERA.to_camera(*c), point)))
            .fold((f64::INFINITY, 0.0), |(lo, hi), d| (lo.min(d), hi.max(d)))
    }

    /// Object `i`'s 3D-box corners and centre in camera coordinates.
    pub fn camera_box(&self, i: usize) -> ([Vec3; 8], Vec3) {
        let o = &self.objects[i];
        (o.corners().map(|c| CAMERA.to_camera(c)), CAMERA.to_camera(o.centre()))
    }
}
