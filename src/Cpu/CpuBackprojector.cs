using Tomalign.Core.Backend;

namespace Tomalign.Cpu;

/// <summary>The managed twin of the backprojection kernels: same formulas, same float arithmetic order.</summary>
public sealed class CpuBackprojector(int maxThreads = 0) : IBackprojector
{
    private readonly ParallelOptions _parallel = new() { MaxDegreeOfParallelism = maxThreads > 0 ? maxThreads : -1 };

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
            for (int x = 0; x < width; x++)
            {
                float xx = x - xc;
                float sum = 0;
                for (int i = 0; i < views; i++)
                {
                    float u = xx * c[i] + depth * s[i] + xc;
                    sum += w[i] * Sample2(proj, (long)i * inRows * width, width, inRows, u, v);
                }
                line[x] = sum;
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

    /// <summary>Bilinear sample of a view of rows × width at (u, v); neighbours outside it count as 0.</summary>
    internal static float Sample2(float[] data, long offset, int width, int rows, float u, float v)
    {
        if (!(v > -1f) || !(v < rows)) return 0f;
        float fl = MathF.Floor(v);
        int k = (int)fl;
        float f = v - fl;
        float a = k >= 0 ? Sample(data, offset + (long)k * width, width, u) : 0f;
        float b = k + 1 < rows ? Sample(data, offset + (long)(k + 1) * width, width, u) : 0f;
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
