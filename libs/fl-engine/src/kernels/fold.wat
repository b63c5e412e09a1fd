;; FLOps aggregation kernels, WebAssembly SIMD (128-bit). Assembled by build-kernels.ts into fold-wasm.ts.
;; Pointers are byte offsets into the exported memory; counts are elements. f32 inputs, f64 accumulators.
(module
  (memory (export "memory") 1 65536)

  ;; sum[i] += w * f64(src[i]) for i < n: the FedAvg-family fold, 4 B read + 8 B read + 8 B written per value.
  (func (export "fold") (param $sum i32) (param $src i32) (param $n i32) (param $w f64)
    (local $end i32) (local $wv v128) (local $x v128) (local $y v128)
    (local.set $wv (f64x2.splat (local.get $w)))
    (local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $done
      (loop $eight
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $x (v128.load (local.get $src)))
        (local.set $y (v128.load offset=16 (local.get $src)))
        (v128.store (local.get $sum)
          (f64x2.add (v128.load (local.get $sum))
            (f64x2.mul (local.get $wv) (f64x2.promote_low_f32x4 (local.get $x)))))
        (v128.store offset=16 (local.get $sum)
          (f64x2.add (v128.load offset=16 (local.get $sum))
            (f64x2.mul (local.get $wv) (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))))))
        (v128.store offset=32 (local.get $sum)
          (f64x2.add (v128.load offset=32 (local.get $sum))
            (f64x2.mul (local.get $wv) (f64x2.promote_low_f32x4 (local.get $y)))))
        (v128.store offset=48 (local.get $sum)
          (f64x2.add (v128.load offset=48 (local.get $sum))
            (f64x2.mul (local.get $wv) (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $y) (local.get $y))))))
        (local.set $src (i32.add (local.get $src) (i32.const 32)))
        (local.set $sum (i32.add (local.get $sum) (i32.const 64)))
        (br $eight)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 7)) (i32.const 2))))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (f64.store (local.get $sum)
          (f64.add (f64.load (local.get $sum)) (f64.mul (local.get $w) (f64.promote_f32 (f32.load (local.get $src))))))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (local.set $sum (i32.add (local.get $sum) (i32.const 8)))
        (br $one))))

  ;; Σ f64(src[i])²: the squared L2 norm, and the finiteness check in the same pass (NaN or Infinity iff a value is).
  ;; Eight values per step into four f64x2 partial sums, combined as (p + q) + (r + t), then lane 0 + lane 1.
  (func (export "sumsq") (param $src i32) (param $n i32) (result f64)
    (local $end i32) (local $x v128) (local $y v128) (local $v v128)
    (local $p v128) (local $q v128) (local $r v128) (local $t v128) (local $s f64)
    (local.set $end (i32.add (local.get $src) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $done
      (loop $eight
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $x (v128.load (local.get $src)))
        (local.set $y (v128.load offset=16 (local.get $src)))
        (local.set $v (f64x2.promote_low_f32x4 (local.get $x)))
        (local.set $p (f64x2.add (local.get $p) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $v (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))))
        (local.set $q (f64x2.add (local.get $q) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $v (f64x2.promote_low_f32x4 (local.get $y)))
        (local.set $r (f64x2.add (local.get $r) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $v (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $y) (local.get $y))))
        (local.set $t (f64x2.add (local.get $t) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $src (i32.add (local.get $src) (i32.const 32)))
        (br $eight)))
    (local.set $p (f64x2.add (f64x2.add (local.get $p) (local.get $q)) (f64x2.add (local.get $r) (local.get $t))))
    (local.set $s (f64.add (f64x2.extract_lane 0 (local.get $p)) (f64x2.extract_lane 1 (local.get $p))))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 7)) (i32.const 2))))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $s (f64.add (local.get $s)
          (f64.mul (f64.promote_f32 (f32.load (local.get $src))) (f64.promote_f32 (f32.load (local.get $src))))))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (br $one)))
    (local.get $s))

  ;; Σ (f64(a[i]) - f64(b[i]))²: the squared L2 distance of two f32 vectors (NaN or Infinity if a value is not finite).
  ;; The same order of operations as sumsq.
  (func (export "sqdist") (param $a i32) (param $b i32) (param $n i32) (result f64)
    (local $end i32) (local $x v128) (local $y v128) (local $u v128) (local $w v128) (local $v v128)
    (local $p v128) (local $q v128) (local $r v128) (local $t v128) (local $s f64) (local $d f64)
    (local.set $end (i32.add (local.get $a) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $done
      (loop $eight
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $x (v128.load (local.get $a)))
        (local.set $y (v128.load offset=16 (local.get $a)))
        (local.set $u (v128.load (local.get $b)))
        (local.set $w (v128.load offset=16 (local.get $b)))
        (local.set $v (f64x2.sub (f64x2.promote_low_f32x4 (local.get $x)) (f64x2.promote_low_f32x4 (local.get $u))))
        (local.set $p (f64x2.add (local.get $p) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $v (f64x2.sub
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x)))
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $u) (local.get $u)))))
        (local.set $q (f64x2.add (local.get $q) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $v (f64x2.sub (f64x2.promote_low_f32x4 (local.get $y)) (f64x2.promote_low_f32x4 (local.get $w))))
        (local.set $r (f64x2.add (local.get $r) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $v (f64x2.sub
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $y) (local.get $y)))
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $w) (local.get $w)))))
        (local.set $t (f64x2.add (local.get $t) (f64x2.mul (local.get $v) (local.get $v))))
        (local.set $a (i32.add (local.get $a) (i32.const 32)))
        (local.set $b (i32.add (local.get $b) (i32.const 32)))
        (br $eight)))
    (local.set $p (f64x2.add (f64x2.add (local.get $p) (local.get $q)) (f64x2.add (local.get $r) (local.get $t))))
    (local.set $s (f64.add (f64x2.extract_lane 0 (local.get $p)) (f64x2.extract_lane 1 (local.get $p))))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 7)) (i32.const 2))))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $d (f64.sub (f64.promote_f32 (f32.load (local.get $a))) (f64.promote_f32 (f32.load (local.get $b)))))
        (local.set $s (f64.add (local.get $s) (f64.mul (local.get $d) (local.get $d))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (i32.const 4)))
        (br $one)))
    (local.get $s))
)
