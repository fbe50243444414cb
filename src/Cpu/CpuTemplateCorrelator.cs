using Tomalign.Core.Backend;

namespace Tomalign.Cpu;

/// <summary>The managed twin of the template-correlation kernel: same sum, same order, in float.</summary>
public sealed class CpuTemplateCorrelator(int maxThreads = 0) : ITemplateCorrelator
{
    private readonly ParallelOptions _parallel = new() { MaxDegreeOfParallelism = maxThreads > 0 ? maxThreads : -1 };

    public void Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<float> template, int size, Span<float> output)
    {
        TemplateCorrelationArguments.Validate(views.Length, nx, ny, nz, template.Length, size, output.Length);
        var v = views.ToArray();
        var t = template.ToArray();
        var o = new float[output.Length];
        int h = size / 2;
        Parallel.For(0, nz * ny, _parallel, zy =>
        {
            int z = zy / ny, y = zy % ny;
            long view = (long)z * nx * ny;
            for (int x = 0; x < nx; x++)
            {
                float sum = 0;
                for (int j = 0; j < size; j++)
                {
                    int yy = Math.Clamp(y + j - h, 0, ny - 1);
                    long row = view + (long)yy * nx;
                    for (int i = 0; i < size; i++)
                        sum += t[j * size + i] * v[row + Math.Clamp(x + i - h, 0, nx - 1)];
                }
                o[view + (long)y * nx + x] = sum;
            }
        });
        o.CopyTo(output);
    }
}
