using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tomalign.Core.Backend;

namespace Tomalign.Cpu;

/// <summary>
/// The managed twin of the backprojection and row-filter kernels: same formulas, same float arithmetic order.
/// The row filter transforms with <c>fft</c> (the managed FFT when none is given).
/// </summary>
public sealed class CpuBackprojector(int maxThreads = 0, IFft2D? fft = null) : IBackprojector
{
    private readonly ParallelOptions _parallel = new() { MaxDegreeOfParallelism = maxThreads > 0 ? maxThreads : -1 };
    private readonly IFft2D _fft = fft ?? new Fft.ManagedFft2D();

    public void FilterBackproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> filter, int pad, ReadOnlySpan<float> cosines,
        ReadOnlySpan<float> sines, ReadOnlySpan<float> weights, SlabGeometry g, Span<float> slab)
    {
        g.Validate(cosines.Length, sines.Length, weights.Length, projections.Length, slab.Length);
        int lines = g.Views * g.ProjectionRows;
        // The filtered lines go straight into the zero-margined rows the backprojection reads (no cropped copy between).
        using var rows = new PaddedRows(lines, g.Width);
        FilterRowsInto(projections[..(int)g.ProjectionLength], lines, g.Width, filter, pad, rows);
        BackprojectRows(rows, cosines, sines, weights, g, slab);
    }

    /// <summary>
    /// The row filter (twin of RowFilterKernels: PadRows, the forward FFT, WeightSpectrum, the inverse, CropRows) on
    /// <paramref name="count"/> lines of <paramref name="width"/>. With the managed FFT, two lines at a time as the real and
    /// imaginary parts of one complex transform (the filter is real and even, so the two stay apart), in double, one such
    /// pair in each lane of a <see cref="System.Numerics.Vector{T}"/> (FftPlan1D's lane transform), on all threads; with another <see cref="IFft2D"/>, through its batched real transforms in batches of at most 256 MiB.
    /// </summary>
    public void FilterRows(ReadOnlySpan<float> lines, int count, int width, ReadOnlySpan<float> filter, int pad, Span<float> output)
    {
        RowFilterArguments.Validate(count, width, filter.Length, pad);
        if (lines.Length < (long)count * width || output.Length < (long)count * width)
            throw new ArgumentException($"lines ({lines.Length}) and output ({output.Length}) must hold {count}×{width} floats");
        using var rows = new PaddedRows(count, width);
        FilterRowsInto(lines, count, width, filter, pad, rows);
        for (int l = 0; l < count; l++) rows.Row(l).CopyTo(output.Slice(l * width, width));
    }

    private unsafe void FilterRowsInto(ReadOnlySpan<float> lines, int count, int width, ReadOnlySpan<float> filter, int pad, PaddedRows output)
    {
        RowFilterArguments.Validate(count, width, filter.Length, pad);
        if (lines.Length < (long)count * width) throw new ArgumentException($"lines ({lines.Length}) must hold {count}×{width} floats");
        int extra = pad - width, right = extra / 2;
        if (_fft is not Fft.ManagedFft2D)
        {
            FilterRowsBatched(lines, count, width, filter, pad, output);
            return;
        }
        var plan = Fft.ManagedFft2D.Plan(pad);
        // The full spectrum's weights: filter[k] for k ≤ pad/2, filter[pad − k] above (a real filter of a real line).
        var h = new double[pad];
        for (int k = 0; k < pad; k++) h[k] = filter[k <= pad / 2 ? k : pad - k];
        // Vector<double>.Count transforms at once, lane l holding lines 2l (real part) and 2l + 1 (imaginary part) of the group.
        int lanes = System.Numerics.Vector<double>.Count, perGroup = 2 * lanes;
        fixed (float* src = lines)
        {
            var srcP = (nint)src;
            Parallel.For(0, (count + perGroup - 1) / perGroup, _parallel, () => new double[4 * pad * lanes], (group, _, s) =>
            {
                var zr = s.AsSpan(0, pad * lanes); var zi = s.AsSpan(pad * lanes, pad * lanes);
                int first = group * perGroup;
                for (int l = 0; l < lanes; l++)
                {
                    Pad(Line(first + 2 * l), zr, l, lanes, width, right);
                    Pad(Line(first + 2 * l + 1), zi, l, lanes, width, right);
                }
                var vr = MemoryMarshal.Cast<double, System.Numerics.Vector<double>>(zr);
                var vi = MemoryMarshal.Cast<double, System.Numerics.Vector<double>>(zi);
                var tr = MemoryMarshal.Cast<double, System.Numerics.Vector<double>>(s.AsSpan(2 * pad * lanes, pad * lanes));
                var ti = MemoryMarshal.Cast<double, System.Numerics.Vector<double>>(s.AsSpan(3 * pad * lanes, pad * lanes));
                plan.Forward(vr, vi, tr, ti);
                // Weight, then the inverse as conj(forward(conj(·))): the real part is the even line filtered, the imaginary part the odd one.
                for (int k = 0; k < pad; k++) { vr[k] *= h[k]; vi[k] = -(vi[k] * h[k]); }
                plan.Forward(vr, vi, tr, ti);
                for (int l = 0; l < lanes; l++)
                {
                    int la = first + 2 * l, lb = la + 1;
                    if (la < count) { var o = output.Row(la); for (int x = 0; x < width; x++) o[x] = (float)zr[x * lanes + l]; }
                    if (lb < count) { var o = output.Row(lb); for (int x = 0; x < width; x++) o[x] = (float)-zi[x * lanes + l]; }
                }
                return s;

                ReadOnlySpan<float> Line(int l) => l < count ? new ReadOnlySpan<float>((float*)srcP + (long)l * width, width) : default;
            }, static _ => { });
        }

        // Lane l of a padded line: the line, then the right half of the extra with its last value, the rest with its
        // first (RowFilterKernels.PadRows); zeros for no line.
        static void Pad(ReadOnlySpan<float> line, Span<double> dst, int l, int lanes, int width, int right)
        {
            int pad = dst.Length / lanes;
            if (line.IsEmpty) { for (int x = 0; x < pad; x++) dst[x * lanes + l] = 0; return; }
            for (int x = 0; x < width; x++) dst[x * lanes + l] = line[x];
            for (int x = width; x < width + right; x++) dst[x * lanes + l] = line[^1];
            for (int x = width + right; x < pad; x++) dst[x * lanes + l] = line[0];
        }
    }

    /// <summary>The row filter through <see cref="IFft2D"/>'s batched real transforms (any FFT other than the managed one).</summary>
    private void FilterRowsBatched(ReadOnlySpan<float> lines, int count, int width, ReadOnlySpan<float> filter, int pad, PaddedRows output)
    {
        int batch = Math.Max(1, Math.Min(count, (int)Math.Min(int.MaxValue / 2, (256L << 20) / (4L * pad * 3))));
        var real = new float[(long)batch * pad];
        var spec = new float[Fft2DArguments.SpectrumLength(pad, 1, batch)];
        int half = pad / 2 + 1, extra = pad - width, right = extra / 2;
        for (int first = 0; first < count; first += batch)
        {
            int n = Math.Min(batch, count - first);
            var realN = real.AsSpan(0, n * pad);
            var specN = spec.AsSpan(0, (int)Fft2DArguments.SpectrumLength(pad, 1, n));
            for (int l = 0; l < n; l++)
            {
                var src = lines.Slice((first + l) * width, width);
                var dst = realN.Slice(l * pad, pad);
                src.CopyTo(dst);
                dst.Slice(width, right).Fill(src[^1]);
                dst.Slice(width + right, extra - right).Fill(src[0]);
            }
            _fft.Forward(realN, pad, 1, n, specN);
            for (int l = 0; l < n; l++)
                for (int k = 0; k < half; k++)
                {
                    int idx = 2 * (l * half + k);
                    specN[idx] *= filter[k]; specN[idx + 1] *= filter[k];
                }
            _fft.Inverse(specN, pad, 1, n, realN);
            for (int l = 0; l < n; l++)
                realN.Slice(l * pad, width).CopyTo(output.Row(first + l));
        }
    }

    public void Backproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines,
        ReadOnlySpan<float> weights, SlabGeometry g, Span<float> slab)
    {
        g.Validate(cosines.Length, sines.Length, weights.Length, projections.Length, slab.Length);
        int lines = g.Views * g.ProjectionRows;
        using var rows = new PaddedRows(lines, g.Width);
        for (int l = 0; l < lines; l++) projections.Slice(l * g.Width, g.Width).CopyTo(rows.Row(l));
        BackprojectRows(rows, cosines, sines, weights, g, slab);
    }

    /// <summary>
    /// The backprojection from zero-margined rows into <paramref name="slab"/>, one (row, z) line per work item. Every voxel
    /// sums its views in order from 0, as the kernel does, with the kernel's arithmetic (no fused multiply-adds), so the
    /// result is bit for bit the kernel's formula. With AVX-512, 64 voxels of a line are held in registers against all
    /// views (<see cref="LineAvx512"/>); otherwise each line accumulates view after view (<see cref="AccumulateView"/>).
    /// </summary>
    private unsafe void BackprojectRows(PaddedRows rows, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines,
        ReadOnlySpan<float> weights, SlabGeometry g, Span<float> slab)
    {
        var c = cosines[..g.Views].ToArray(); var s = sines[..g.Views].ToArray(); var w = weights[..g.Views].ToArray();
        int width = g.Width, thickness = g.Thickness, views = g.Views, inRows = g.ProjectionRows;
        float xc = width / 2.0f, zc = thickness / 2.0f, zShift = g.ZShift;
        float cp = g.CosPhi, sp = g.SinPhi, rowOffset = g.RowOffset, inOrigin = g.InRowOrigin;
        // The window of 32 samples each 16 voxels read must hold their span (≤ 15·|c| + 2 samples).
        bool wide = Avx512F.IsSupported && c.All(ci => MathF.Abs(ci) <= 1.75f);
        fixed (float* outP = slab)
        {
            nint outN = (nint)outP;
            Parallel.For(0, g.Rows * thickness, _parallel, () => new float[2 * views], (rz, _, ds) =>
            {
                int r = rz / thickness, z = rz % thickness;
                float zz = z - zc + zShift;
                float yy = rowOffset + r;
                float depth = yy * sp + zz * cp;
                float v = yy * cp - zz * sp - inOrigin;
                var line = new Span<float>((float*)outN + (long)rz * width, width);
                // The row interpolation is the same for every view and voxel of this line: a view row outside the
                // projection contributes 0, as the kernel's Sample2 does.
                if (!(v > -1f) || !(v < inRows)) { line.Clear(); return ds; }
                float fl = MathF.Floor(v);
                int k = (int)fl;
                float f = v - fl;
                for (int i = 0; i < views; i++) ds[i] = depth * s[i];
                if (wide)
                {
                    LineAvx512(line, rows, k, inRows, f, views, xc, c, ds, w);
                    return ds;
                }
                line.Clear();
                // Views outermost, voxels inner: each voxel accumulates its views in the same order as the kernel sums them.
                for (int i = 0; i < views; i++)
                {
                    var rowA = k >= 0 ? rows.Row(i * inRows + k) : Span<float>.Empty;
                    var rowB = k + 1 < inRows ? rows.Row(i * inRows + k + 1) : Span<float>.Empty;
                    AccumulateView(line, rowA, rowB, f, width, xc, c[i], ds[i], w[i]);
                }
                return ds;
            }, static _ => { });
        }
    }

    /// <summary>
    /// One line of the backprojection with AVX-512, 64 voxels at a time against every view: u = (x − xc)·c + ds + xc is
    /// clamped to [−2, width + 1] (where both neighbours are margin zeros, so the sample stays 0 as the kernel's bounds
    /// tests make it), its neighbours are picked out of a 32-sample window of the row with two-table permutes (no gathers,
    /// no per-voxel bounds tests), and the view's weighted sample is added to the voxel's running sum in a register.
    /// The same operations per voxel and view as the scalar formula, in the same order, so the sums are bit for bit its.
    /// </summary>
    private static unsafe void LineAvx512(Span<float> line, PaddedRows rows, int k, int inRows, float f, int views, float xc,
        float[] c, float[] ds, float[] w)
    {
        int width = line.Length;
        // Rows A (k) and B (k + 1) of each view; a row outside the projection reads as the zero row. With f = 0 only row A counts.
        bool two = f != 0;
        var lo = Vector512.Create(-2f); var hi = Vector512.Create(width + 1f);
        var vxc = Vector512.Create(xc); var vf = Vector512.Create(f);
        var step = Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        var one = Vector512.Create(1);
        float* tail = stackalloc float[64];
        fixed (float* lp = line)
        fixed (float* cp = c, dp = ds, wp = w)
        {
            for (int x0 = 0; x0 < width; x0 += 64)
            {
                var xx0 = Avx512F.Subtract(Avx512F.Add(Vector512.Create((float)x0), step), vxc);
                var xx1 = Avx512F.Subtract(Avx512F.Add(Vector512.Create((float)(x0 + 16)), step), vxc);
                var xx2 = Avx512F.Subtract(Avx512F.Add(Vector512.Create((float)(x0 + 32)), step), vxc);
                var xx3 = Avx512F.Subtract(Avx512F.Add(Vector512.Create((float)(x0 + 48)), step), vxc);
                Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
                for (int i = 0; i < views; i++)
                {
                    var vc = Vector512.Create(cp[i]); var vds = Vector512.Create(dp[i]); var vw = Vector512.Create(wp[i]);
                    bool last = cp[i] < 0;   // u falls along the 16 voxels: the window starts at the last one
                    float* a = k >= 0 ? rows.RowPointer(i * inRows + k) : rows.Zero;
                    if (two)
                    {
                        float* b = k + 1 < inRows ? rows.RowPointer(i * inRows + k + 1) : rows.Zero;
                        s0 = Avx512F.Add(s0, Avx512F.Multiply(vw, Sample2(xx0, vc, vds, vxc, lo, hi, a, b, vf, one, last)));
                        s1 = Avx512F.Add(s1, Avx512F.Multiply(vw, Sample2(xx1, vc, vds, vxc, lo, hi, a, b, vf, one, last)));
                        s2 = Avx512F.Add(s2, Avx512F.Multiply(vw, Sample2(xx2, vc, vds, vxc, lo, hi, a, b, vf, one, last)));
                        s3 = Avx512F.Add(s3, Avx512F.Multiply(vw, Sample2(xx3, vc, vds, vxc, lo, hi, a, b, vf, one, last)));
                    }
                    else
                    {
                        s0 = Avx512F.Add(s0, Avx512F.Multiply(vw, Sample1(xx0, vc, vds, vxc, lo, hi, a, one, last)));
                        s1 = Avx512F.Add(s1, Avx512F.Multiply(vw, Sample1(xx1, vc, vds, vxc, lo, hi, a, one, last)));
                        s2 = Avx512F.Add(s2, Avx512F.Multiply(vw, Sample1(xx2, vc, vds, vxc, lo, hi, a, one, last)));
                        s3 = Avx512F.Add(s3, Avx512F.Multiply(vw, Sample1(xx3, vc, vds, vxc, lo, hi, a, one, last)));
                    }
                }
                float* dst = x0 + 64 <= width ? lp + x0 : tail;
                Avx512F.Store(dst, s0); Avx512F.Store(dst + 16, s1); Avx512F.Store(dst + 32, s2); Avx512F.Store(dst + 48, s3);
                if (dst == tail) new Span<float>(tail, width - x0).CopyTo(line[x0..]);
            }
        }
    }

    /// <summary>
    /// The linear sample of a zero-margined row at u for 16 voxels: the window base is the smallest neighbour index (first
    /// or last lane), clamped so that the two 16-sample loads stay inside the margins whatever u is.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<float> Sample1(Vector512<float> xx, Vector512<float> c, Vector512<float> ds, Vector512<float> xc,
        Vector512<float> lo, Vector512<float> hi, float* row, Vector512<int> one, bool last)
    {
        var (fu, idx, idx1, b) = Window(xx, c, ds, xc, lo, hi, one, last);
        return Lerp(row, b, idx, idx1, fu);
    }

    /// <summary>Sample1 on rows A and B at row fraction f: a + (b − a)·f, as the kernel's Sample2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<float> Sample2(Vector512<float> xx, Vector512<float> c, Vector512<float> ds, Vector512<float> xc,
        Vector512<float> lo, Vector512<float> hi, float* rowA, float* rowB, Vector512<float> f, Vector512<int> one, bool last)
    {
        var (fu, idx, idx1, b) = Window(xx, c, ds, xc, lo, hi, one, last);
        var va = Lerp(rowA, b, idx, idx1, fu);
        var vb = Lerp(rowB, b, idx, idx1, fu);
        return Avx512F.Add(va, Avx512F.Multiply(Avx512F.Subtract(vb, va), f));
    }

    /// <summary>
    /// u = xx·c + ds + xc clamped to [lo, hi] for 16 voxels: its fraction, the neighbours' indices in the 32-sample window
    /// and the window's base in the row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float> Fraction, Vector512<int> Index, Vector512<int> Next, int Base) Window(Vector512<float> xx,
        Vector512<float> c, Vector512<float> ds, Vector512<float> xc, Vector512<float> lo, Vector512<float> hi, Vector512<int> one, bool last)
    {
        var u = Avx512F.Add(Avx512F.Add(Avx512F.Multiply(xx, c), ds), xc);
        u = Avx512F.Min(Avx512F.Max(u, lo), hi);
        var fl = Vector512.Floor(u);
        var fu = Avx512F.Subtract(u, fl);
        var k = Avx512F.ConvertToVector512Int32WithTruncation(fl);
        int b = Math.Clamp(last ? k.GetElement(15) : k.ToScalar(), -2, (int)hi.ToScalar());
        var idx = Avx512F.Subtract(k, Vector512.Create(b));
        return (fu, idx, Avx512F.Add(idx, one), b);
    }

    /// <summary>row[k] + (row[k + 1] − row[k])·fu for the 16 voxels, k = base + index, from two loads and two permutes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<float> Lerp(float* row, int b, Vector512<int> idx, Vector512<int> idx1, Vector512<float> fu)
    {
        var p0 = Avx512F.LoadVector512(row + b); var p1 = Avx512F.LoadVector512(row + b + 16);
        var a0 = Avx512F.PermuteVar16x32x2(p0, idx, p1);
        var a1 = Avx512F.PermuteVar16x32x2(p0, idx1, p1);
        return Avx512F.Add(a0, Avx512F.Multiply(Avx512F.Subtract(a1, a0), fu));
    }

    public void Project(ReadOnlySpan<float> slab, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines, SlabGeometry g, Span<float> projections)
    {
        g.Validate(cosines.Length, sines.Length, cosines.Length, projections.Length, slab.Length);
        g.ValidateForProjection();
        var c = cosines.ToArray(); var s = sines.ToArray();
        int width = g.Width, thickness = g.Thickness, rows = g.Rows;
        float xc = width / 2.0f, zc = thickness / 2.0f, zShift = g.ZShift;
        // The volume's lines with zero margins: a sample at x clamped to [−2, width + 1] needs no bounds test.
        using var lines = new PaddedRows(rows * thickness, width);
        for (int l = 0; l < rows * thickness; l++) slab.Slice(l * width, width).CopyTo(lines.Row(l));
        unsafe
        {
            fixed (float* outP = projections)
            {
                nint outN = (nint)outP;
                Parallel.For(0, g.Views * rows, _parallel, ir =>
                {
                    int i = ir / rows, r = ir % rows;
                    float ci = c[i], si = s[i], inv = 1.0f / ci, pathLength = 1.0f / MathF.Abs(ci);
                    var line = new Span<float>((float*)outN + (long)ir * width, width);
                    int u0 = 0;
                    if (Avx512F.IsSupported) u0 = ProjectAvx512(line, lines, r * thickness, thickness, zc, zShift, xc, si, inv, pathLength);
                    for (int u = u0; u < width; u++)
                    {
                        float uu = u - xc;
                        float sum = 0;
                        for (int z = 0; z < thickness; z++)
                        {
                            float zz = z - zc + zShift;
                            float x = (uu - zz * si) * inv + xc;
                            sum += SampleMargined(lines.RowPointer(r * thickness + z), width, x);
                        }
                        line[u] = sum * pathLength;
                    }
                });
            }
        }
    }

    /// <summary>
    /// The forward projection of one (view, row) line with AVX-512, 16 samples u at a time against every z plane in order
    /// (the sum of the scalar formula, in its order and arithmetic), neighbours gathered (AVX2, eight at a time) from the
    /// zero-margined volume lines: the rays' slope 1/cos θ can exceed 2, too far apart for one permuted window.
    /// Returns the first u not done (the tail is left to the scalar loop).
    /// </summary>
    private static unsafe int ProjectAvx512(Span<float> line, PaddedRows lines, int firstLine, int thickness, float zc, float zShift,
        float xc, float si, float inv, float pathLength)
    {
        int width = line.Length, u = 0;
        var lo = Vector512.Create(-2f); var hi = Vector512.Create(width + 1f);
        var vxc = Vector512.Create(xc); var vinv = Vector512.Create(inv);
        var step = Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        var one = Vector512.Create(1);
        fixed (float* lp = line)
        {
            for (; u + 16 <= width; u += 16)
            {
                var uu = Avx512F.Subtract(Avx512F.Add(Vector512.Create((float)u), step), vxc);
                var sum = Vector512<float>.Zero;
                for (int z = 0; z < thickness; z++)
                {
                    float zz = z - zc + zShift;
                    float* row = lines.RowPointer(firstLine + z);
                    var x = Avx512F.Add(Avx512F.Multiply(Avx512F.Subtract(uu, Vector512.Create(zz * si)), vinv), vxc);
                    x = Avx512F.Min(Avx512F.Max(x, lo), hi);
                    var fl = Vector512.Floor(x);
                    var f = Avx512F.Subtract(x, fl);
                    var k = Avx512F.ConvertToVector512Int32WithTruncation(fl);
                    var k1 = Avx512F.Add(k, one);
                    var a = Vector512.Create(Avx2.GatherVector256(row, k.GetLower(), 4), Avx2.GatherVector256(row, k.GetUpper(), 4));
                    var b = Vector512.Create(Avx2.GatherVector256(row, k1.GetLower(), 4), Avx2.GatherVector256(row, k1.GetUpper(), 4));
                    sum = Avx512F.Add(sum, Avx512F.Add(a, Avx512F.Multiply(Avx512F.Subtract(b, a), f)));
                }
                Avx512F.Store(lp + u, Avx512F.Multiply(sum, Vector512.Create(pathLength)));
            }
        }
        return u;
    }

    /// <summary><see cref="Sample"/> on a zero-margined line: x clamped to [−2, width + 1], where both neighbours are margin zeros.</summary>
    private static unsafe float SampleMargined(float* row, int width, float x)
    {
        if (!(x > -2f)) x = -2f;
        if (x > width + 1f) x = width + 1f;
        float fl = MathF.Floor(x);
        int k = (int)fl;
        float f = x - fl;
        float a = row[k];
        return a + (row[k + 1] - a) * f;
    }

    /// <summary>
    /// SIRT of one slab, the managed twin of the device-resident iteration (GpuBackprojector.Sirt): the same steps on host
    /// arrays, <see cref="Project"/> and <see cref="Backproject"/> between them, and the same elementwise formulas as the
    /// SirtCompare and SirtUpdate kernels.
    /// </summary>
    public void Sirt(ReadOnlySpan<float> projections, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines, SlabGeometry g,
        SirtSettings settings, Span<float> slab, Action<int>? iterationDone = null, CancellationToken cancel = default)
    {
        SirtBox.Validate(g, cosines.Length, sines.Length, projections.Length, slab.Length, settings);
        int m = SirtBox.Margin(g, cosines, sines);
        var ge = SirtBox.Widened(g, m);
        int we = ge.Width;
        var cos = cosines[..g.Views].ToArray();
        var sin = sines[..g.Views].ToArray();
        // The measured projections centred in the widened lines, and the lines' mask (1 where measured, 0 outside).
        var data = new float[ge.ProjectionLength];
        var projOnes = new float[ge.ProjectionLength];
        for (int line = 0; line < g.Views * g.Rows; line++)
        {
            projections.Slice(line * g.Width, g.Width).CopyTo(data.AsSpan(line * we + m, g.Width));
            projOnes.AsSpan(line * we + m, g.Width).Fill(1f);
        }
        var ones = new float[g.Views];
        Array.Fill(ones, 1f);
        // R: the ray lengths A·1, 0 where nothing was measured (so those rays carry no correction); C: Aᵀ·mask.
        var volume = new float[ge.SlabLength];
        Array.Fill(volume, 1f);
        var rowSums = new float[ge.ProjectionLength];
        Project(volume, cos, sin, ge, rowSums);
        for (long k = 0; k < rowSums.LongLength; k++) rowSums[k] *= projOnes[k];
        var colSums = new float[ge.SlabLength];
        Backproject(projOnes, cos, sin, ones, ge, colSums);
        Array.Clear(volume);
        var current = new float[ge.ProjectionLength];
        var update = new float[ge.SlabLength];
        float lambda = settings.Relaxation;
        bool positivity = settings.Positivity;
        for (int it = 0; it < settings.Iterations; it++)
        {
            cancel.ThrowIfCancellationRequested();
            Project(volume, cos, sin, ge, current);
            for (long k = 0; k < current.LongLength; k++)
                current[k] = rowSums[k] > 1e-6f ? (data[k] - current[k]) / rowSums[k] : 0f;
            Backproject(current, cos, sin, ones, ge, update);
            for (long k = 0; k < volume.LongLength; k++)
            {
                float v = volume[k] + (colSums[k] > 1e-6f ? lambda * update[k] / colSums[k] : 0f);
                volume[k] = positivity && v < 0 ? 0 : v;
            }
            iterationDone?.Invoke(it);
        }
        for (int line = 0; line < g.Rows * g.Thickness; line++)
            volume.AsSpan(line * we + m, g.Width).CopyTo(slab.Slice(line * g.Width, g.Width));
    }

    /// <summary>
    /// line[x] += w · (bilinear sample at u = (x − xc)·c + ds + xc between rowA and rowB at row fraction f), for every x:
    /// the same arithmetic as the kernel's Sample2, with the bounds tests taken out of the range where both
    /// neighbours of u lie inside the row (u is monotonic in x). An empty row counts as zeros.
    /// </summary>
    private static void AccumulateView(Span<float> line, ReadOnlySpan<float> rowA, ReadOnlySpan<float> rowB, float f, int width, float xc, float c, float ds, float w)
    {
        bool hasA = !rowA.IsEmpty, hasB = !rowB.IsEmpty;
        // The x range where 0 ≤ u < width − 1 (both neighbours inside), found from an estimate and checked with the exact expression.
        int lo = 0, hi = width;   // fast range [lo, hi)
        if (c > 0)
        {
            lo = Math.Clamp((int)MathF.Floor((0 - xc - ds) / c + xc) - 2, 0, width);
            while (lo < width && !(U(lo) >= 0)) lo++;
            while (lo > 0 && U(lo - 1) >= 0) lo--;
            hi = Math.Clamp((int)MathF.Ceiling((width - 1 - xc - ds) / c + xc) + 2, lo, width);
            while (hi > lo && !(U(hi - 1) < width - 1)) hi--;
            while (hi < width && U(hi) < width - 1 && U(hi) >= 0) hi++;
        }
        else { lo = hi = 0; }
        for (int x = 0; x < lo; x++) line[x] += w * Slow(rowA, rowB, U(x), f);
        if (hasA && hasB && f != 0)
        {
            int x0 = lo;
            if (Avx2.IsSupported) x0 = AccumulateBothAvx2(line, rowA, rowB, f, lo, hi, xc, c, ds, w);
            for (int x = x0; x < hi; x++)
            {
                float u = U(x);
                int k = (int)u;
                float fu = u - k;
                float a0 = rowA[k], b0 = rowB[k];
                float a = a0 + (rowA[k + 1] - a0) * fu;
                float b = b0 + (rowB[k + 1] - b0) * fu;
                line[x] += w * (a + (b - a) * f);
            }
        }
        else if (hasA && (f == 0 || !hasB))
        {
            // Only row A counts: with f = 0, a + (b − a)·0 = a; without row B, b = 0 and a + (0 − a)·f.
            bool scale = f != 0;
            int x0 = lo;
            if (Avx2.IsSupported && !scale) x0 = AccumulateOneAvx2(line, rowA, lo, hi, xc, c, ds, w);
            for (int x = x0; x < hi; x++)
            {
                float u = U(x);
                int k = (int)u;
                float fu = u - k;
                float a0 = rowA[k];
                float a = a0 + (rowA[k + 1] - a0) * fu;
                line[x] += w * (scale ? a + (0f - a) * f : a);
            }
        }
        else
        {
            for (int x = lo; x < hi; x++) line[x] += w * Slow(rowA, rowB, U(x), f);
        }
        for (int x = hi; x < width; x++) line[x] += w * Slow(rowA, rowB, U(x), f);

        float U(int x) => (x - xc) * c + ds + xc;
    }

    /// <summary>
    /// The two-row fast path eight voxels at a time (AVX2 gathers); the same operations per voxel, in the same
    /// order and without fused multiply-adds, so the sums are bit for bit the scalar ones. Returns the first x not done.
    /// </summary>
    private static unsafe int AccumulateBothAvx2(Span<float> line, ReadOnlySpan<float> rowA, ReadOnlySpan<float> rowB, float f,
        int lo, int hi, float xc, float c, float ds, float w)
    {
        int x = lo;
        var vxc = Vector256.Create(xc); var vc = Vector256.Create(c); var vds = Vector256.Create(ds);
        var vw = Vector256.Create(w); var vf = Vector256.Create(f); var one = Vector256.Create(1);
        var step = Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7);
        fixed (float* a = rowA, b = rowB, l = line)
        {
            for (; x + 8 <= hi; x += 8)
            {
                var vx = Vector256.Create((float)x) + step;
                var u = Avx.Add(Avx.Add(Avx.Multiply(Avx.Subtract(vx, vxc), vc), vds), vxc);
                var k = Avx.ConvertToVector256Int32WithTruncation(u);
                var fu = Avx.Subtract(u, Avx.ConvertToVector256Single(k));
                var k1 = Avx2.Add(k, one);
                var a0 = Avx2.GatherVector256(a, k, 4); var a1 = Avx2.GatherVector256(a, k1, 4);
                var b0 = Avx2.GatherVector256(b, k, 4); var b1 = Avx2.GatherVector256(b, k1, 4);
                var va = Avx.Add(a0, Avx.Multiply(Avx.Subtract(a1, a0), fu));
                var vb = Avx.Add(b0, Avx.Multiply(Avx.Subtract(b1, b0), fu));
                var sample = Avx.Add(va, Avx.Multiply(Avx.Subtract(vb, va), vf));
                Avx.Store(l + x, Avx.Add(Avx.LoadVector256(l + x), Avx.Multiply(vw, sample)));
            }
        }
        return x;
    }

    /// <summary>The one-row fast path (whole projection rows, the usual case) eight voxels at a time; bit for bit the scalar sums.</summary>
    private static unsafe int AccumulateOneAvx2(Span<float> line, ReadOnlySpan<float> rowA, int lo, int hi, float xc, float c, float ds, float w)
    {
        int x = lo;
        var vxc = Vector256.Create(xc); var vc = Vector256.Create(c); var vds = Vector256.Create(ds);
        var vw = Vector256.Create(w); var one = Vector256.Create(1);
        var step = Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7);
        fixed (float* a = rowA, l = line)
        {
            for (; x + 8 <= hi; x += 8)
            {
                var vx = Vector256.Create((float)x) + step;
                var u = Avx.Add(Avx.Add(Avx.Multiply(Avx.Subtract(vx, vxc), vc), vds), vxc);
                var k = Avx.ConvertToVector256Int32WithTruncation(u);
                var fu = Avx.Subtract(u, Avx.ConvertToVector256Single(k));
                var a0 = Avx2.GatherVector256(a, k, 4); var a1 = Avx2.GatherVector256(a, Avx2.Add(k, one), 4);
                var sample = Avx.Add(a0, Avx.Multiply(Avx.Subtract(a1, a0), fu));
                Avx.Store(l + x, Avx.Add(Avx.LoadVector256(l + x), Avx.Multiply(vw, sample)));
            }
        }
        return x;
    }

    /// <summary>Sample2 on two given rows (an empty one counts as zeros).</summary>
    private static float Slow(ReadOnlySpan<float> rowA, ReadOnlySpan<float> rowB, float u, float f)
    {
        float a = rowA.IsEmpty ? 0f : SampleRow(rowA, u);
        float b = rowB.IsEmpty ? 0f : SampleRow(rowB, u);
        return a + (b - a) * f;
    }

    private static float SampleRow(ReadOnlySpan<float> row, float u)
    {
        int width = row.Length;
        if (!(u > -1f) || !(u < width)) return 0f;
        float fl = MathF.Floor(u);
        int k = (int)fl;
        float f = u - fl;
        float a = k >= 0 ? row[k] : 0f;
        float b = k + 1 < width ? row[k + 1] : 0f;
        return a + (b - a) * f;
    }

    /// <summary>Linear sample of a line at u; neighbours outside 0…width−1 count as 0.</summary>
    internal static float Sample(float[] data, long offset, int width, float u)
    {
        if (!(u > -1f) || !(u < width)) return 0f;
        float fl = MathF.Floor(u);
        int k = (int)fl;
        float f = u - fl;
        float a = k >= 0 ? data[offset + k] : 0f;
        float b = k + 1 < width ? data[offset + k + 1] : 0f;
        return a + (b - a) * f;
    }
}

/// <summary>
/// Projection lines for the backprojection, each in a row of <see cref="Stride"/> floats with <see cref="Left"/> zeros before
/// it and at least 48 after, plus one all-zero row (a view row outside the projection): a sample at any u clamped to
/// [−2, width + 1], and a 32-sample window from its neighbour, read inside the row's own margins. Unmanaged (never moved by
/// the GC, no zeroing pass of the whole buffer); disposed after each slab.
/// </summary>
internal sealed unsafe class PaddedRows : IDisposable
{
    public const int Left = 16;
    private float* _data;
    private readonly long _floats;

    public PaddedRows(int count, int width)
    {
        Count = count; Width = width;
        Stride = (Left + width + 48 + 15) & ~15;
        _floats = (long)(count + 1) * Stride;
        _data = (float*)NativeMemory.AlignedAlloc((nuint)(_floats * sizeof(float)), 64);
        // Only the margins (and the zero row) need zeros; the lines are written by whoever fills the rows.
        for (int l = 0; l <= count; l++)
        {
            float* row = _data + (long)l * Stride;
            new Span<float>(row, Left).Clear();
            new Span<float>(row + Left + width, Stride - Left - width).Clear();
        }
        new Span<float>(Zero, width).Clear();
    }

    public int Count { get; }
    public int Width { get; }
    public int Stride { get; }

    /// <summary>The first sample of line <paramref name="l"/> (margins before and after it).</summary>
    public float* RowPointer(int l) => _data + (long)l * Stride + Left;

    /// <summary>The first sample of the all-zero row.</summary>
    public float* Zero => _data + (long)Count * Stride + Left;

    public Span<float> Row(int l) => new(RowPointer(l), Width);

    public void Dispose()
    {
        if (_data is null) return;
        NativeMemory.AlignedFree(_data);
        _data = null;
    }
}
