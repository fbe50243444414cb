using ILGPU;

namespace Tomalign.Kernels;

/// <summary>Batched correlation with a small template; the managed twin is Tomalign.Cpu.CpuTemplateCorrelator.</summary>
internal static class TemplateKernels
{
    /// <summary>One thread per output pixel: index (x, y, view).</summary>
    public static void Correlate(Index3D index, ArrayView<float> views, ArrayView<float> template, ArrayView<float> output, int nx, int ny, int size)
    {
        int x = index.X, y = index.Y, z = index.Z, h = size / 2;
        long view = (long)z * nx * ny;
        float sum = 0;
        for (int j = 0; j < size; j++)
        {
            int yy = y + j - h;
            yy = yy < 0 ? 0 : yy > ny - 1 ? ny - 1 : yy;
            long row = view + (long)yy * nx;
            for (int i = 0; i < size; i++)
            {
                int xx = x + i - h;
                xx = xx < 0 ? 0 : xx > nx - 1 ? nx - 1 : xx;
                sum += template[j * size + i] * views[row + xx];
            }
        }
        output[view + (long)y * nx + x] = sum;
    }
}
