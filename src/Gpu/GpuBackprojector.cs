using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using Tomalign.Core.Backend;
using Tomalign.Gpu.Fft;
using Tomalign.Kernels;

namespace Tomalign.Gpu;

/// <summary>
/// Backprojection and forward projection of a Y slab on an ILGPU accelerator (one launch each), and WBP with the
/// row filter on the device: the projections go up once, are filtered there in batches of lines (pad, FFT, weight,
/// inverse FFT, crop back in place) and backprojected from there; only the slab comes back.
/// </summary>
public sealed class GpuBackprojector : IBackprojector
{
    private readonly Accelerator _accelerator;
    private readonly DeviceMemoryMeter _meter;
    private readonly Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SlabShape> _backproject;
    private readonly Action<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SlabShape> _project;
    private readonly Lazy<(IDeviceFft2D Fft, Action<Index1D, ArrayView<float>, ArrayView<float>, int, int, int> Pad,
        Action<Index1D, ArrayView<float>, ArrayView<float>, int> Weight, Action<Index1D, ArrayView<float>, ArrayView<float>, int, int, int> Crop)> _filter;
    private readonly Lazy<SirtKernels> _sirt;

    /// <summary>SIRT's elementwise kernels (loaded on first use).</summary>
    private sealed record SirtKernels(
        Action<Index1D, ArrayView<float>, float> Fill,
        Action<Index1D, ArrayView<float>, int, int, int> LineMask,
        Action<Index1D, ArrayView<float>, ArrayView<float>> Multiply,
        Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> Compare,
        Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int> Update,
        Action<Index1D, ArrayView<float>, ArrayView<float>, int, int, int> Crop);

    /// <param name="meter">counts the device memory; null: a meter of its own, without a limit.</param>
    /// <param name="fft">the device FFT of the row filter; null: one of its own (created on first use).</param>
    public GpuBackprojector(Accelerator accelerator, DeviceMemoryMeter? meter = null, IDeviceFft2D? fft = null)
    {
        _accelerator = accelerator ?? throw new ArgumentNullException(nameof(accelerator));
        var m = _meter = meter ?? new DeviceMemoryMeter(accelerator);
        _filter = new(() => (fft ?? DeviceFft.Create(m),
            accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(RowFilterKernels.PadRows),
            accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(RowFilterKernels.WeightSpectrum),
            accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(RowFilterKernels.CropRows)));
        _sirt = new(() => new SirtKernels(
            accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(ReconstructionKernels.SirtFill),
            accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, int, int>(ReconstructionKernels.SirtLineMask),
            accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ReconstructionKernels.SirtMultiply),
            accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ReconstructionKernels.SirtCompare),
            accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int>(ReconstructionKernels.SirtUpdate),
            accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(ReconstructionKernels.SirtCrop)));
        _backproject = accelerator.LoadAutoGroupedStreamKernel<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SlabShape>(
            ReconstructionKernels.Backproject);
        _project = accelerator.LoadAutoGroupedStreamKernel<Index3D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SlabShape>(
            ReconstructionKernels.Project);
    }

    public void Backproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines,
        ReadOnlySpan<float> weights, SlabGeometry g, Span<float> slab)
    {
        g.Validate(cosines.Length, sines.Length, weights.Length, projections.Length, slab.Length);
        CheckBudget("backprojecting", g, DeviceMemoryPlan.Backproject(g));
        using var p = Upload(projections[..(int)g.ProjectionLength]);
        using var c = Upload(cosines);
        using var s = Upload(sines);
        using var w = Upload(weights);
        using var o = _meter.Allocate1D<float>(g.SlabLength);
        _backproject(new Index3D(g.Width, g.Thickness, g.Rows), p.View, c.View, s.View, w.View, o.View, Shape(g));
        _accelerator.Synchronize();
        o.View.CopyToCPU(ref MemoryMarshal.GetReference(slab), g.SlabLength);
    }

    /// <summary>Lines per filter batch of the last <see cref="FilterBackproject"/> or <see cref="FilterRows"/> (for logs and tests).</summary>
    public int LastLinesPerBatch { get; private set; }

    public void FilterBackproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> filter, int pad, ReadOnlySpan<float> cosines,
        ReadOnlySpan<float> sines, ReadOnlySpan<float> weights, SlabGeometry g, Span<float> slab)
    {
        g.Validate(cosines.Length, sines.Length, weights.Length, projections.Length, slab.Length);
        RowFilterArguments.Validate(g.Views * g.ProjectionRows, g.Width, filter.Length, pad);
        var plan = DeviceMemoryPlan.FilterBackproject(g, pad, MemoryBudgetOverride ?? _accelerator.MemorySize);
        if (!plan.Fits) throw DeviceMemoryPlan.TooSmall($"filtering and backprojecting a slab of {g.Rows} rows × {g.Width} × {g.Thickness} ({g.Views} views)", plan.Bytes, plan.BudgetBytes);
        using var p = Upload(projections[..(int)g.ProjectionLength]);
        using var c = Upload(cosines);
        using var s = Upload(sines);
        using var w = Upload(weights);
        using var o = _meter.Allocate1D<float>(g.SlabLength);
        Filter(p.View, p.View, g.Views * g.ProjectionRows, g.Width, filter, pad, plan.PerChunk);   // in place
        _backproject(new Index3D(g.Width, g.Thickness, g.Rows), p.View, c.View, s.View, w.View, o.View, Shape(g));
        _accelerator.Synchronize();
        o.View.CopyToCPU(ref MemoryMarshal.GetReference(slab), g.SlabLength);
    }

    /// <summary>The row filter alone on host buffers (the kernels' parity test against CpuBackprojector.FilterRows).</summary>
    public void FilterRows(ReadOnlySpan<float> lines, int count, int width, ReadOnlySpan<float> filter, int pad, Span<float> output, int? linesPerBatch = null)
    {
        RowFilterArguments.Validate(count, width, filter.Length, pad);
        if (lines.Length < (long)count * width || output.Length < (long)count * width)
            throw new ArgumentException($"lines ({lines.Length}) and output ({output.Length}) must hold {count}×{width} floats");
        using var l = Upload(lines[..(count * width)]);
        // The filtered lines go to a separate buffer filled with NaN, so that the test sees every element written.
        var nan = new float[count * width];
        Array.Fill(nan, float.NaN);
        using var o = Upload(nan);
        Filter(l.View, o.View, count, width, filter, pad, Math.Clamp(linesPerBatch ?? count, 1, count));
        _accelerator.Synchronize();
        o.View.SubView(0, (long)count * width).CopyToCPU(ref MemoryMarshal.GetReference(output), (long)count * width);
    }

    /// <summary>Filters <paramref name="count"/> lines of <paramref name="lines"/> into <paramref name="target"/> (may be the same buffer), <paramref name="batch"/> lines at a time.</summary>
    internal void Filter(ArrayView<float> lines, ArrayView<float> target, int count, int width, ReadOnlySpan<float> filter, int pad, int batch)
    {
        var (fft, padRows, weight, crop) = _filter.Value;
        LastLinesPerBatch = batch;
        int half = Fft2DArguments.HalfWidth(pad);
        using var f = Upload(filter);
        using var padded = _meter.Allocate1D<float>((long)batch * pad);
        using var spectrum = _meter.Allocate1D<float>(Fft2DArguments.SpectrumLength(pad, 1, batch));
        try
        {
            for (int first = 0; first < count; first += batch)
            {
                int n = Math.Min(batch, count - first);
                var real = padded.View.SubView(0, (long)n * pad);
                var spec = spectrum.View.SubView(0, Fft2DArguments.SpectrumLength(pad, 1, n));
                padRows(n * pad, lines, real, first, width, pad);
                fft.Forward(real, spec, pad, 1, n);
                weight(n * half, spec, f.View, half);
                fft.Inverse(spec, real, pad, 1, n);
                crop(n * width, real, target, first, width, pad);
            }
        }
        finally { fft.ReleaseWork(); }   // part of this call's plan, not kept for the next
    }

    public void Project(ReadOnlySpan<float> slab, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines, SlabGeometry g, Span<float> projections)
    {
        g.Validate(cosines.Length, sines.Length, cosines.Length, projections.Length, slab.Length);
        g.ValidateForProjection();
        CheckBudget("projecting", g, DeviceMemoryPlan.Project(g));
        using var v = Upload(slab[..(int)g.SlabLength]);
        using var c = Upload(cosines);
        using var s = Upload(sines);
        using var o = _meter.Allocate1D<float>(g.ProjectionLength);
        _project(new Index3D(g.Width, g.Rows, g.Views), v.View, c.View, s.View, o.View, Shape(g));
        _accelerator.Synchronize();
        o.View.CopyToCPU(ref MemoryMarshal.GetReference(projections), g.ProjectionLength);
    }

    /// <summary>
    /// SIRT with every iteration on the device: the widened projections go up once; the ray lengths, the view counts,
    /// the volume and the residual are made and kept there (<see cref="DeviceMemoryPlan.Sirt"/>); each iteration is a
    /// projection, the compare, a backprojection and the update, four launches with no transfer; only the central slab
    /// comes back. The device is synchronised after each iteration, so progress is reported as the work is done.
    /// </summary>
    public void Sirt(ReadOnlySpan<float> projections, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines, SlabGeometry g,
        SirtSettings settings, Span<float> slab, Action<int>? iterationDone = null, CancellationToken cancel = default)
    {
        SirtBox.Validate(g, cosines.Length, sines.Length, projections.Length, slab.Length, settings);
        int m = SirtBox.Margin(g, cosines, sines);
        var ge = SirtBox.Widened(g, m);
        int we = ge.Width;
        CheckBudget("running SIRT on", g, DeviceMemoryPlan.Sirt(ge));
        cancel.ThrowIfCancellationRequested();
        var k = _sirt.Value;
        int projLength = checked((int)ge.ProjectionLength), slabLength = checked((int)ge.SlabLength);
        var widened = new float[projLength];
        for (int line = 0; line < g.Views * g.Rows; line++)
            projections.Slice(line * g.Width, g.Width).CopyTo(widened.AsSpan(line * we + m, g.Width));
        var ones = new float[g.Views];
        Array.Fill(ones, 1f);
        using var c = Upload(cosines[..g.Views]);
        using var s = Upload(sines[..g.Views]);
        using var w = Upload(ones);
        using var data = Upload(widened);
        using var current = _meter.Allocate1D<float>(projLength);
        using var rowSums = _meter.Allocate1D<float>(projLength);
        using var volume = _meter.Allocate1D<float>(slabLength);
        using var update = _meter.Allocate1D<float>(slabLength);
        using var colSums = _meter.Allocate1D<float>(slabLength);
        var shape = Shape(ge);
        var projectIndex = new Index3D(we, ge.Rows, ge.Views);
        var backprojectIndex = new Index3D(we, ge.Thickness, ge.Rows);
        // R = A·1 on the measured part of each line (0 outside); C = Aᵀ·mask; then the volume starts at 0.
        k.Fill(slabLength, volume.View, 1f);
        _project(projectIndex, volume.View, c.View, s.View, rowSums.View, shape);
        k.LineMask(projLength, current.View, we, m, g.Width);
        k.Multiply(projLength, rowSums.View, current.View);
        _backproject(backprojectIndex, current.View, c.View, s.View, w.View, colSums.View, shape);
        k.Fill(slabLength, volume.View, 0f);
        for (int it = 0; it < settings.Iterations; it++)
        {
            cancel.ThrowIfCancellationRequested();
            _project(projectIndex, volume.View, c.View, s.View, current.View, shape);
            k.Compare(projLength, current.View, data.View, rowSums.View);
            _backproject(backprojectIndex, current.View, c.View, s.View, w.View, update.View, shape);
            k.Update(slabLength, volume.View, update.View, colSums.View, settings.Relaxation, settings.Positivity ? 1 : 0);
            _accelerator.Synchronize();
            iterationDone?.Invoke(it);
        }
        // The central width into the front of the update buffer, and only that back.
        int outLength = checked((int)g.SlabLength);
        k.Crop(outLength, volume.View, update.View, we, m, g.Width);
        _accelerator.Synchronize();
        update.View.SubView(0, outLength).CopyToCPU(ref MemoryMarshal.GetReference(slab), outLength);
    }

    private static SlabShape Shape(SlabGeometry g) => new(g.Width, g.Rows, g.Views, g.Thickness, g.ZShift, g.ProjectionRows, g.CosPhi, g.SinPhi, g.RowOffset, g.InRowOrigin);

    /// <summary>Overrides the device memory the budget check assumes (--gpu-memory).</summary>
    public long? MemoryBudgetOverride { get; set; }

    /// <summary>One slab must fit the working share of the device; the reconstructor plans slabs so that it does.</summary>
    private void CheckBudget(string what, SlabGeometry g, long bytes)
    {
        long budget = DeviceMemoryPlan.Budget(MemoryBudgetOverride ?? _accelerator.MemorySize);
        if (bytes > budget) throw DeviceMemoryPlan.TooSmall($"{what} a slab of {g.Rows} rows × {g.Width} × {g.Thickness} ({g.Views} views)", bytes, budget);
    }

    private DeviceBuffer<float> Upload(ReadOnlySpan<float> data)
    {
        var b = _meter.Allocate1D<float>(data.Length);
        if (data.Length > 0) b.View.SubView(0, data.Length).CopyFromCPU(ref MemoryMarshal.GetReference(data), data.Length);
        return b;
    }
}
