using Tomalign.Core.Backend;

namespace Tomalign.Cpu;

/// <summary>
/// The managed twin of the local-alignment backprojection kernel (LocalReconstructionKernels.Backproject): the same float
/// formulas in the same order. The row filter is <see cref="CpuBackprojector.FilterRows"/>.
/// </summary>
public sealed class CpuLocalBackprojector(int maxThreads = 0, IFft2D? fft = null) : ILocalBackprojector
{
    private readonly ParallelOptions _parallel = new() { MaxDegreeOfParallelism = maxThreads > 0 ? maxThreads : -1 };
    private readonly CpuBackprojector _filter = new(maxThreads, fft);

    public void FilterBackproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> filter, int pad, ReadOnlySpan<float> columns,
        ReadOnlySpan<float> weights, LocalSlabGeometry g, Span<float> slab)
    {
        g.Validate(projections.Length, columns.Length, weights.Length, slab.Length);
        var filtered = new float[g.ProjectionLength];
        _filter.FilterRows(projections[..(int)g.ProjectionLength], g.Views * g.InRows, g.Width, filter, pad, filtered);
        Backproject(filtered, columns, weights, g, slab);
    }

    public void Backproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> columns, ReadOnlySpan<float> weights, LocalSlabGeometry g, Span<float> slab)
    {
        g.Validate(projections.Length, columns.Length, weights.Length, slab.Length);
        var proj = projections[..(int)g.ProjectionLength].ToArray();
        var col = columns[..(int)g.ColumnLength].ToArray();
        var w = weights.ToArray();
        var result = new float[g.SlabLength];
        int width = g.Width, thickness = g.Thickness, views = g.Views, inRows = g.InRows;
        float zc = thickness / 2.0f, zShift = g.ZShift;
        Parallel.For(0, g.Rows * thickness, _parallel, rz =>
        {
            int r = rz / thickness, z = rz % thickness;
            float zz = z - zc + zShift;
            for (int x = 0; x < width; x++)
            {
                long c = 4L * ((long)r * width + x) * views;
                float sum = 0;
                for (int i = 0; i < views; i++)
                {
                    long ci = c + 4L * i;
                    float u = col[ci] + col[ci + 1] * zz;
                    float v = col[ci + 2] + col[ci + 3] * zz;
                    sum += w[i] * Sample2(proj, (long)i * inRows * width, width, inRows, u, v);
                }
                result[((long)r * thickness + z) * width + x] = sum;
            }
        });
        result.CopyTo(slab);
    }

    /// <summary>Bilinear sample at (u, v); a neighbour outside the rows or columns counts as 0 (the kernel's Sample2).</summary>
    internal static float Sample2(float[] data, long offset, int width, int rows, float u, float v)
    {
        if (!(v > -1f) || !(v < rows)) return 0f;
        float fl = MathF.Floor(v);
        int k = (int)fl;
        float f = v - fl;
        float a = k >= 0 ? CpuBackprojector.Sample(data, offset + (long)k * width, width, u) : 0f;
        float b = k + 1 < rows ? CpuBackprojector.Sample(data, offset + (long)(k + 1) * width, width, u) : 0f;
        return a + (b - a) * f;
    }
}
