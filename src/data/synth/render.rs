//! A small ray caster: one ray per pixel against the ground plane and every object (cubes
//! turned about their vertical axis, spheres, upright cylinders), Lambert shading under one
//! directional light, shadows on the ground, a sky gradient. It also counts each object's
//! visible pixels and their (modal) 2D box, and keeps what each ray met (`Maps`: the ground
//! truth `truth` writes).

use image::{Rgb, RgbImage};

use super::scene::{CAMERA, COLOURS, Object, Scene, Shape, Vec3, dot, norm, sub};

pub struct Rendered {
    pub rgb: RgbImage,
    /// Per object: visible pixels and the visible box `[x0, y0, x1, y1]` (x1, y1 exclusive).
    pub visible: Vec<(usize, [f64; 4])>,
    pub maps: Maps,
}

/// Per pixel, row-major over the `side × side` image: what the ray through its centre met.
#[derive(Debug, Clone, PartialEq)]
pub struct Maps {
    pub side: u32,
    /// Camera-space z of the hit (metres along the optical axis); 0 for the sky.
    pub depth_m: Vec<f32>,
    /// Object index + 1; 0 for the ground and the sky.
    pub instances: Vec<u8>,
}

const LIGHT: Vec3 = [-0.40, 0.75, -0.55];

pub fn render(scene: &Scene, size: u32) -> Rendered {
    let (r, u, f) = CAMERA.axes();
    let origin = CAMERA.origin();
    let focal = CAMERA.focal_px(size);
    let half = size as f64 / 2.0;
    let light = scale(LIGHT, 1.0 / norm(LIGHT));
    let mut rgb = RgbImage::new(size, size);
    let mut visible = vec![(0usize, [f64::INFINITY, f64::INFINITY, 0.0, 0.0]); scene.objects.len()];
    let pixels = (size * size) as usize;
    let mut maps = Maps { side: size, depth_m: vec![0.0; pixels], instances: vec![0; pixels] };
    for py in 0..size {
        for px in 0..size {
            let a = (px as f64 + 0.5 - half) / focal;
            let b = (py as f64 + 0.5 - half) / focal;
            let d = [f[0] + a * r[0] - b * u[0], f[1] + a * r[1] - b * u[1], f[2] + a * r[2] - b * u[2]];
            let d = scale(d, 1.0 / norm(d));
            let hit = nearest(scene, origin, d);
            let ground_t = if d[1] < 0.0 { -origin[1] / d[1] } else { f64::INFINITY };
            let pixel = (py * size + px) as usize;
            let colour = match hit {
                Some((t, i, n)) if t < ground_t => {
                    maps.depth_m[pixel] = (t * dot(d, f)) as f32;
                    maps.instances[pixel] = i as u8 + 1;
                    let v = &mut visible[i];
                    v.0 += 1;
                    v.1 =
                        [v.1[0].min(px as f64), v.1[1].min(py as f64), v.1[2].max(px as f64 + 1.0), v.1[3].max(py as f64 + 1.0)];
                    shade(COLOURS[scene.objects[i].look.colour].1, 0.45 + 0.55 * dot(n, light).max(0.0))
                }
                _ if ground_t.is_finite() => {
                    maps.depth_m[pixel] = (ground_t * dot(d, f)) as f32;
                    ground(scene, add(origin, scale(d, ground_t)), light)
                }
                _ => sky(d[1]),
            };
            rgb.put_pixel(px, py, colour);
        }
    }
    Rendered { rgb, visible, maps }
}

fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

fn scale(a: Vec3, s: f64) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

fn shade(albedo: [u8; 3], light: f64) -> Rgb<u8> {
    Rgb(albedo.map(|c| (c as f64 * light).round().clamp(0.0, 255.0) as u8))
}

/// A two-tone checker of 1 m squares, darkened where an object blocks the light.
fn ground(scene: &Scene, p: Vec3, light: Vec3) -> Rgb<u8> {
    let dark = (p[0].floor() as i64 + p[2].floor() as i64).rem_euclid(2) == 1;
    let base = if dark { [118, 122, 112] } else { [142, 146, 136] };
    let lit = if nearest(scene, p, light).is_some() { 0.55 } else { 1.0 };
    shade(base, lit)
}

fn sky(up: f64) -> Rgb<u8> {
    let t = up.clamp(0.0, 0.5) * 2.0;
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    Rgb([mix(175.0, 105.0), mix(198.0, 145.0), mix(228.0, 212.0)])
}

/// The nearest object hit: distance, object index, unit normal.
fn nearest(scene: &Scene, o: Vec3, d: Vec3) -> Option<(f64, usize, Vec3)> {
    scene
        .objects
        .iter()
        .enumerate()
        .filter_map(|(i, obj)| intersect(obj, o, d).map(|(t, n)| (t, i, n)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
}

const EPS: f64 = 1e-6;

fn intersect(obj: &Object, o: Vec3, d: Vec3) -> Option<(f64, Vec3)> {
    match obj.look.shape {
        Shape::Sphere => sphere(obj.centre(), obj.extent() / 2.0, o, d),
        Shape::Cube => cube(obj, o, d),
        Shape::Cylinder => cylinder(obj, o, d),
    }
}

fn sphere(c: Vec3, radius: f64, o: Vec3, d: Vec3) -> Option<(f64, Vec3)> {
    let oc = sub(o, c);
    let b = dot(oc, d);
    let disc = b * b - (dot(oc, oc) - radius * radius);
    if disc < 0.0 {
        return None;
    }
    let t = -b - disc.sqrt();
    (t > EPS).then(|| (t, scale(sub(add(o, scale(d, t)), c), 1.0 / radius)))
}

/// Slab test in the cube's own frame (turned by `yaw` about y).
fn cube(obj: &Object, o: Vec3, d: Vec3) -> Option<(f64, Vec3)> {
    let (s, c) = obj.yaw.sin_cos();
    let to_local = |v: Vec3| [c * v[0] - s * v[2], v[1], s * v[0] + c * v[2]];
    let lo = to_local(sub(o, obj.centre()));
    let ld = to_local(d);
    let h = obj.extent() / 2.0;
    let (mut t_near, mut t_far, mut axis) = (f64::NEG_INFINITY, f64::INFINITY, 0);
    for k in 0..3 {
        if ld[k].abs() < 1e-12 {
            if lo[k].abs() > h {
                return None;
            }
            continue;
        }
        let (t0, t1) = ((-h - lo[k]) / ld[k], (h - lo[k]) / ld[k]);
        let (t0, t1) = if t0 < t1 { (t0, t1) } else { (t1, t0) };
        if t0 > t_near {
            t_near = t0;
            axis = k;
        }
        t_far = t_far.min(t1);
    }
    if t_near > t_far || t_near <= EPS {
        return None;
    }
    let mut ln = [0.0; 3];
    ln[axis] = -ld[axis].signum();
    Some((t_near, [c * ln[0] + s * ln[2], ln[1], -s * ln[0] + c * ln[2]]))
}

/// An upright cylinder standing on the ground: side and top cap.
fn cylinder(obj: &Object, o: Vec3, d: Vec3) -> Option<(f64, Vec3)> {
    let (radius, height) = (obj.extent() / 2.0, obj.extent());
    let (ox, oz) = (o[0] - obj.x, o[2] - obj.z);
    let mut best: Option<(f64, Vec3)> = None;
    let a = d[0] * d[0] + d[2] * d[2];
    if a > 1e-12 {
        let b = ox * d[0] + oz * d[2];
        let disc = b * b - a * (ox * ox + oz * oz - radius * radius);
        if disc >= 0.0 {
            let t = (-b - disc.sqrt()) / a;
            let y = o[1] + t * d[1];
            if t > EPS && (0.0..=height).contains(&y) {
                best = Some((t, [(ox + t * d[0]) / radius, 0.0, (oz + t * d[2]) / radius]));
            }
        }
    }
    if d[1].abs() > 1e-12 {
        let t = (height - o[1]) / d[1];
        let (x, z) = (ox + t * d[0], oz + t * d[2]);
        if t > EPS && x * x + z * z <= radius * radius && best.is_none_or(|(bt, _)| t < bt) {
            best = Some((t, [0.0, 1.0, 0.0]));
        }
    }
    best
}
