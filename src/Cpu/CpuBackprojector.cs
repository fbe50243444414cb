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
        var filtered = new float[g.ProjectionLength];
        FilterRows(projections[..(int)g.ProjectionLength], lines, g.Width, filter, pad, filtered);
        Backproject(filtered, cosines, sines, weights, g, slab);
    }

    /// <summary>
    /// The row filter (twin of RowFilterKernels: PadRows, the forward FFT, WeightSpectrum, the inverse, CropRows) on
    /// <paramref name="count"/> lines of <paramref name="width"/>, in batches of at most 256 MiB of host buffers.
    /// </summary>
    public void FilterRows(ReadOnlySpan<float> lines, int count, int width, ReadOnlySpan<float> filter, int pad, Span<float> output)
    {
        RowFilterArguments.Validate(count, width, filter.Length, pad);
        if (lines.Length < (long)count * width || output.Length < (long)count * width)
            throw new ArgumentException($"lines ({lines.Length}) and output ({output.Length}) must hold {count}×{width} floats");
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
                realN.Slice(l * pad, width).CopyTo(output.Slice((first + l) * width, width));
        }
    }

    public void Backproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines,
        ReadOnlySpan<float> weights, SlabGeometry g, Span<float> slab)
    {
        g.Validate(cosines.Length, sines.Length, weights.Length, projections.Length, slab.Length);
        var proj = projections.ToArray();
        var c = cosines.ToArray(); var s = sines.ToArray(); var w = weights.ToArray();
        var result = new float[g.SlabLength];
        int width = g.Width, thickness = g.Thickness, views = g.Views, inRows = g.ProjectionRows;
        float xc = width / 2.0f, zc = thickness / 2.0f, zShift = g.ZShift;
        float cp = g.CosPhi, sp = g.SinPhi, rowOffset = g.RowOffset, inOrigin = g.InRowOrigin;
        Parallel.For(0, g.Rows * thickness, _parallel, rz =>
        {
            int r = rz / thickness, z = rz % thickness;
            float zz = z - zc + zShift;
            float yy = rowOffset + r;
            float depth = yy * sp + zz * cp;
            float v = yy * cp - zz * sp - inOrigin;
            var line = result.AsSpan(rz * width, width);
            // The row interpolation is the same for every view and voxel of this line: a view row outside the
            // projection contributes 0, as the kernel's Sample2 does.
            if (!(v > -1f) || !(v < inRows)) return;
            float fl = MathF.Floor(v);
            int k = (int)fl;
            float f = v - fl;
            // Views outermost, voxels inner: each line accumulates its views in the same order as the kernel sums them.
            for (int i = 0; i < views; i++)
            {
                long viewOffset = (long)i * inRows * width;
                var rowA = k >= 0 ? proj.AsSpan((int)(viewOffset + (long)k * width), width) : Span<float>.Empty;
                var rowB = k + 1 < inRows ? proj.AsSpan((int)(viewOffset + (long)(k + 1) * width), width) : Span<float>.Empty;
                AccumulateView(line, rowA, rowB, f, width, xc, c[i], depth * s[i], w[i]);
            }
        });
        result.CopyTo(slab);
    }

    public void Project(ReadOnlySpan<float> slab, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines, SlabGeometry g, Span<float> projections)
    {
        g.Validate(cosines.Length, sines.Length, cosines.Length, projections.Length, slab.Length);
        g.ValidateForProjection();
        var vol = slab.ToArray();
        var c = cosines.ToArray(); var s = sines.ToArray();
        var result = new float[g.ProjectionLength];
        int width = g.Width, thickness = g.Thickness, rows = g.Rows;
        float xc = width / 2.0f, zc = thickness / 2.0f, zShift = g.ZShift;
        Parallel.For(0, g.Views * rows, _parallel, ir =>
        {
            int i = ir / rows, r = ir % rows;
            float ci = c[i], si = s[i], inv = 1.0f / ci, pathLength = 1.0f / MathF.Abs(ci);
            var line = result.AsSpan(ir * width, width);
            for (int u = 0; u < width; u++)
            {
                float uu = u - xc;
                float sum = 0;
                for (int z = 0; z < thickness; z++)
                {
                    float zz = z - zc + zShift;
                    float x = (uu - zz * si) * inv + xc;
                    sum += Sample(vol, ((long)r * thickness + z) * width, width, x);
                }
                line[u] = sum * pathLength;
            }
        });
        result.CopyTo(projections);
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
