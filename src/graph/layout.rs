//! A small layered layout, left to right, for the built-in SVG: each group
//! (a scope) is laid out on its own and the groups are stacked. Within a
//! group a node's column is the longest chain of links leading to it
//! (links that close a cycle are ignored), and nodes in a column are
//! ordered by the mean position of their neighbours, a few sweeps each way.

/// A box to place.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub w: f64,
    pub h: f64,
}

/// Where a box went: its top left corner.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pos {
    pub x: f64,
    pub y: f64,
}

/// The frame around one group, for its label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// The space between columns (room for an edge's label) and between rows.
pub const GAP_X: f64 = 110.0;
pub const GAP_Y: f64 = 24.0;
/// Padding inside a group's frame, and room for its label on top.
pub const PAD: f64 = 16.0;
pub const LABEL: f64 = 22.0;
const SWEEPS: usize = 4;

/// Place `sizes`, in `groups` (each node's group, `None` for no frame),
/// linked by `edges` (from, to); returns positions, group frames (one per
/// framed group, in order of first appearance) and the total size.
pub fn layout(
    sizes: &[Size],
    groups: &[Option<usize>],
    edges: &[(usize, usize)],
) -> (Vec<Pos>, Vec<(usize, Frame)>, Size) {
    let mut pos = vec![Pos::default(); sizes.len()];
    let mut frames = Vec::new();
    let mut order: Vec<Option<usize>> = Vec::new();
    for g in groups {
        if !order.contains(g) {
            order.push(*g);
        }
    }
    let (mut y, mut width) = (PAD, 0.0f64);
    for group in order {
        let members: Vec<usize> = (0..sizes.len()).filter(|&i| groups[i] == group).collect();
        let inner: Vec<(usize, usize)> = edges
            .iter()
            .copied()
            .filter(|(a, b)| members.contains(a) && members.contains(b) && a != b)
            .collect();
        let framed = group.is_some();
        let (ox, oy) = if framed {
            (PAD + PAD, y + LABEL + PAD)
        } else {
            (PAD, y)
        };
        let (w, h) = place(sizes, &members, &inner, ox, oy, &mut pos);
        if let Some(g) = group {
            let frame = Frame {
                x: PAD,
                y,
                w: w + 2.0 * PAD,
                h: h + LABEL + 2.0 * PAD,
            };
            frames.push((g, frame));
            y += frame.h + GAP_Y;
            width = width.max(frame.x + frame.w);
        } else {
            y += h + GAP_Y;
            width = width.max(ox + w);
        }
    }
    let total = Size {
        w: width + PAD,
        h: y - GAP_Y + PAD,
    };
    (pos, frames, total)
}

/// Lay out `members` from (`ox`, `oy`); returns the width and height used.
fn place(
    sizes: &[Size],
    members: &[usize],
    edges: &[(usize, usize)],
    ox: f64,
    oy: f64,
    pos: &mut [Pos],
) -> (f64, f64) {
    let acyclic = drop_back_edges(members, edges);
    // Longest chain leading to each node: relax as often as there are nodes.
    let mut rank: std::collections::HashMap<usize, usize> =
        members.iter().map(|&m| (m, 0)).collect();
    for _ in 0..members.len() {
        let mut changed = false;
        for &(a, b) in &acyclic {
            if rank[&b] < rank[&a] + 1 {
                rank.insert(b, rank[&a] + 1);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let columns = members.iter().map(|m| rank[m]).max().map_or(0, |r| r + 1);
    let mut cols: Vec<Vec<usize>> = vec![Vec::new(); columns];
    for &m in members {
        cols[rank[&m]].push(m);
    }
    // Order within columns by the mean row of neighbours.
    let mut row: std::collections::HashMap<usize, f64> = std::collections::HashMap::new();
    let index_rows = |cols: &Vec<Vec<usize>>, row: &mut std::collections::HashMap<usize, f64>| {
        for c in cols {
            for (k, &n) in c.iter().enumerate() {
                row.insert(n, k as f64);
            }
        }
    };
    index_rows(&cols, &mut row);
    for sweep in 0..SWEEPS {
        let forward = sweep % 2 == 0;
        let range: Vec<usize> = if forward {
            (1..columns).collect()
        } else {
            (0..columns.saturating_sub(1)).rev().collect()
        };
        for c in range {
            let mut keyed: Vec<(f64, usize)> = cols[c]
                .iter()
                .enumerate()
                .map(|(k, &n)| {
                    let near: Vec<f64> = acyclic
                        .iter()
                        .filter_map(|&(a, b)| match forward {
                            true if b == n => Some(row[&a]),
                            false if a == n => Some(row[&b]),
                            _ => None,
                        })
                        .collect();
                    let key = if near.is_empty() {
                        k as f64
                    } else {
                        near.iter().sum::<f64>() / near.len() as f64
                    };
                    (key, n)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            cols[c] = keyed.into_iter().map(|(_, n)| n).collect();
            index_rows(&cols, &mut row);
        }
    }
    // Coordinates: columns side by side, each centred on the tallest.
    let heights: Vec<f64> = cols
        .iter()
        .map(|c| c.iter().map(|&n| sizes[n].h).sum::<f64>() + GAP_Y * (c.len().max(1) - 1) as f64)
        .collect();
    let tallest = heights.iter().copied().fold(0.0, f64::max);
    let mut x = ox;
    for (c, col) in cols.iter().enumerate() {
        let width = col.iter().map(|&n| sizes[n].w).fold(0.0, f64::max);
        let mut y = oy + (tallest - heights[c]) / 2.0;
        for &n in col {
            pos[n] = Pos {
                x: x + (width - sizes[n].w) / 2.0,
                y,
            };
            y += sizes[n].h + GAP_Y;
        }
        x += width + GAP_X;
    }
    let used_w = if columns == 0 { 0.0 } else { x - GAP_X - ox };
    (used_w, tallest)
}

/// `edges` without those that close a cycle (found by a depth-first walk
/// from each member in order).
fn drop_back_edges(members: &[usize], edges: &[(usize, usize)]) -> Vec<(usize, usize)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark: std::collections::HashMap<usize, Mark> =
        members.iter().map(|&m| (m, Mark::New)).collect();
    let mut keep = Vec::new();
    for &root in members {
        if mark[&root] != Mark::New {
            continue;
        }
        // (node, next edge to look at)
        let mut stack = vec![(root, 0usize)];
        mark.insert(root, Mark::Open);
        while let Some((n, k)) = stack.pop() {
            let next = edges.iter().enumerate().skip(k).find(|(_, e)| e.0 == n);
            match next {
                Some((at, &(a, b))) => {
                    stack.push((n, at + 1));
                    match mark[&b] {
                        Mark::Open => {} // closes a cycle: dropped
                        Mark::Done => keep.push((a, b)),
                        Mark::New => {
                            keep.push((a, b));
                            mark.insert(b, Mark::Open);
                            stack.push((b, 0));
                        }
                    }
                }
                None => {
                    mark.insert(n, Mark::Done);
                }
            }
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_goes_left_to_right_and_a_cycle_still_places_everything() {
        let s = Size { w: 50.0, h: 20.0 };
        let (pos, frames, total) = layout(&[s, s, s], &[None; 3], &[(0, 1), (1, 2), (2, 0)]);
        assert!(frames.is_empty());
        assert!(pos[0].x < pos[1].x && pos[1].x < pos[2].x, "{pos:?}");
        assert!(total.w >= 3.0 * 50.0 + 2.0 * GAP_X);
    }

    #[test]
    fn groups_are_stacked_in_frames_that_hold_their_nodes() {
        let s = Size { w: 40.0, h: 20.0 };
        let (pos, frames, total) = layout(&[s, s, s], &[Some(0), Some(1), Some(0)], &[(0, 2)]);
        assert_eq!(frames.len(), 2);
        for (i, g) in [(0, 0), (1, 1), (2, 0)] {
            let f = frames.iter().find(|(k, _)| *k == g).unwrap().1;
            assert!(
                pos[i].x >= f.x
                    && pos[i].x + s.w <= f.x + f.w
                    && pos[i].y >= f.y
                    && pos[i].y + s.h <= f.y + f.h,
                "node {i} inside frame {g}: {pos:?} {frames:?}"
            );
        }
        assert!(frames[1].1.y >= frames[0].1.y + frames[0].1.h, "stacked");
        assert!(total.h >= frames[1].1.y + frames[1].1.h);
    }
}
