using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using Tomalign.Core.Backend;
using Tomalign.Core.Geometry;
using Tomalign.Kernels;

namespace Tomalign.Gpu;

/// <summary>
/// The stack warp on an ILGPU accelerator. Kernels are compiled once, here; each call validates,
/// then uploads, launches and downloads the stack in chunks of whole views that fit in device memory.
/// The per-view inverse transforms go to the device as floats (6 per view): they are inverted in
/// double on the host and the centre is folded into the offsets there; the kernel then works in
/// coordinates relative to the centre, where float keeps ≈1e-4 px at 4096 px (|dx| ≤ 2048, ulp 2.4e-4),
/// well inside the 1e-3 px we need, and float is full-speed on every GPU.
/// </summary>
public sealed class GpuStackWarper : IStackWarper
{
    private readonly Accelerator _accelerator;
    private readonly DeviceMemoryMeter _meter;
    private readonly Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WarpShape, LinearInterpolator> _linear;
    private readonly Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WarpShape, CubicInterpolator> _cubic;

    /// <param name="meter">counts the device memory; null: a meter of its own, without a limit.</param>
    public GpuStackWarper(Accelerator accelerator, DeviceMemoryMeter? meter = null)
    {
        _accelerator = accelerator ?? throw new ArgumentNullException(nameof(accelerator));
        _meter = meter ?? new DeviceMemoryMeter(accelerator);
        _linear = accelerator.LoadAutoGroupedStreamKernel<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WarpShape, LinearInterpolator>(
            WarpKernels.Warp<LinearInterpolator>);
        _cubic = accelerator.LoadAutoGroupedStreamKernel<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, WarpShape, CubicInterpolator>(
            WarpKernels.Warp<CubicInterpolator>);
    }

    /// <summary>Views per chunk of the last call (for logs and tests).</summary>
    public int LastViewsPerChunk { get; private set; }

    /// <summary>Overrides the device memory the chunking assumes (tests force several chunks with it).</summary>
    public long? MemoryBudgetOverride { get; set; }

    public void Warp(ReadOnlySpan<float> source, int nx, int ny, int nz, ReadOnlySpan<Xf> transforms,
        ReadOnlySpan<float> fill, WarpOptions options, Span<float> destination)
    {
        WarpArguments.Validate(source, nx, ny, nz, transforms, fill, options, destination);
        int nxo = options.OutputWidth(nx), nyo = options.OutputHeight(ny);
        long inView = (long)nx * ny, outView = (long)nxo * nyo;

        var inverse = new float[nz * WarpKernels.CoefficientsPerView];
        for (int z = 0; z < nz; z++)
        {
            Xf b = transforms[z].Inverse();
            int o = z * WarpKernels.CoefficientsPerView;
            inverse[o] = (float)b.A11; inverse[o + 1] = (float)b.A12;
            inverse[o + 2] = (float)b.A21; inverse[o + 3] = (float)b.A22;
            inverse[o + 4] = (float)(b.Dx + nx / 2.0); inverse[o + 5] = (float)(b.Dy + ny / 2.0);
        }

        var plan = DeviceMemoryPlan.Warp(nx, ny, nz, nxo, nyo, MemoryBudgetOverride ?? _accelerator.MemorySize);
        if (!plan.Fits) throw DeviceMemoryPlan.TooSmall($"warping one {nx}×{ny} view", plan.Bytes, plan.BudgetBytes);
        int chunk = plan.PerChunk;
        LastViewsPerChunk = chunk;

        var shape = new WarpShape(nx, ny, nxo, nyo, options.Bin);
        // Exactly the plan's buffers: per view of the chunk its image, its output, its coefficients and its fill.
        using var srcBuffer = _meter.Allocate1D<float>(chunk * inView);
        using var dstBuffer = _meter.Allocate1D<float>(chunk * outView);
        using var invBuffer = _meter.Allocate1D<float>(chunk * WarpKernels.CoefficientsPerView);
        using var fillBuffer = _meter.Allocate1D<float>(chunk);

        foreach (var (start, count) in DeviceChunking.Chunks(nz, chunk))
        {
            var src = srcBuffer.View.SubView(0, count * inView);
            var dst = dstBuffer.View.SubView(0, count * outView);
            Upload(src, source.Slice((int)(start * inView), (int)(count * inView)));
            var inv = invBuffer.View.SubView(0, count * WarpKernels.CoefficientsPerView);
            var fil = fillBuffer.View.SubView(0, count);
            Upload(inv, inverse.AsSpan(start * WarpKernels.CoefficientsPerView, count * WarpKernels.CoefficientsPerView));
            Upload(fil, fill.Slice(start, count));
            var extent = new Index3D(nxo, nyo, count);
            if (options.Interpolation == Interpolation.Cubic)
                _cubic(extent, src, inv, fil, dst, shape, default);
            else
                _linear(extent, src, inv, fil, dst, shape, default);
            _accelerator.Synchronize();
            Download(dst, destination.Slice((int)(start * outView), (int)(count * outView)));
        }
    }

    private static void Upload(ArrayView<float> target, ReadOnlySpan<float> data) =>
        target.SubView(0, data.Length).CopyFromCPU(ref MemoryMarshal.GetReference(data), data.Length);

    private static void Download(ArrayView<float> from, Span<float> data) =>
        from.SubView(0, data.Length).CopyToCPU(ref MemoryMarshal.GetReference(data), data.Length);
}
