using Tomalign.Core.Geometry;

namespace Tomalign.Core.Backend;

/// <summary>
/// A backend that checks a cancellation token before every call into the wrapped one. Every stage does its
/// heavy work through the backend (correlations, template matching, normal equations, warps, projections), so
/// a cancelled command or job stops at its next backend call in every long loop, without each stage taking a
/// token. A call already begun runs to its end (one batch: a few seconds at most on the CPU path).
/// </summary>
public sealed class CancellableBackend : IComputeBackend
{
    private readonly IComputeBackend _inner;
    private readonly bool _ownsInner;

    private CancellableBackend(IComputeBackend inner, CancellationToken cancel, bool ownsInner)
    {
        _inner = inner;
        _ownsInner = ownsInner;
        Token = cancel;
        Warper = new CheckedWarper(inner.Warper, cancel);
        BundleNormalEquations = new CheckedNormalEquations(inner.BundleNormalEquations, cancel);
        Fft = new CheckedFft(inner.Fft, cancel);
        PairCorrelator = new CheckedPairCorrelator(inner.PairCorrelator, cancel);
        Backprojector = new CheckedBackprojector(inner.Backprojector, cancel);
        TemplateCorrelator = new CheckedTemplateCorrelator(inner.TemplateCorrelator, cancel);
    }

    /// <summary>
    /// <paramref name="backend"/> checking <paramref name="cancel"/> before every call; the backend itself when the token
    /// cannot be cancelled. <paramref name="ownsInner"/>: disposing the wrapper disposes the backend.
    /// </summary>
    public static IComputeBackend Wrap(IComputeBackend backend, CancellationToken cancel, bool ownsInner = true)
    {
        ArgumentNullException.ThrowIfNull(backend);
        return cancel.CanBeCanceled ? new CancellableBackend(backend, cancel, ownsInner) : backend;
    }

    /// <summary>The token checked before every call.</summary>
    public CancellationToken Token { get; }

    public string Name => _inner.Name;
    public string Description => _inner.Description;
    public bool IsGpu => _inner.IsGpu;
    public long? WorkingMemoryBytes => _inner.WorkingMemoryBytes;
    public IDeviceMemoryMeter? DeviceMemory => _inner.DeviceMemory;
    public IStackWarper Warper { get; }
    public IBundleNormalEquations BundleNormalEquations { get; }
    public IFft2D Fft { get; }
    public IPairCorrelator PairCorrelator { get; }
    public IBackprojector Backprojector { get; }
    public ITemplateCorrelator TemplateCorrelator { get; }
    /// <summary>The wrapped backend's (the local reconstruction checks the token between its slabs).</summary>
    public ILocalBackprojector? LocalBackprojector => _inner.LocalBackprojector;

    public void Dispose()
    {
        if (_ownsInner) _inner.Dispose();
    }

    private sealed class CheckedWarper(IStackWarper inner, CancellationToken cancel) : IStackWarper
    {
        public void Warp(ReadOnlySpan<float> source, int nx, int ny, int nz, ReadOnlySpan<Xf> transforms, ReadOnlySpan<float> fill,
            WarpOptions options, Span<float> destination)
        {
            cancel.ThrowIfCancellationRequested();
            inner.Warp(source, nx, ny, nz, transforms, fill, options, destination);
        }
    }

    private sealed class CheckedNormalEquations(IBundleNormalEquations inner, CancellationToken cancel) : IBundleNormalEquations
    {
        public string Name => inner.Name;

        public void Accumulate(BundleProblem problem, ReadOnlySpan<double> viewState, ReadOnlySpan<double> landmarks, ReadOnlySpan<double> weights,
            BundleNormalBlocks output)
        {
            cancel.ThrowIfCancellationRequested();
            inner.Accumulate(problem, viewState, landmarks, weights, output);
        }

        public double Residuals(BundleProblem problem, ReadOnlySpan<double> viewState, ReadOnlySpan<double> landmarks, ReadOnlySpan<double> weights,
            Span<double> residual)
        {
            cancel.ThrowIfCancellationRequested();
            return inner.Residuals(problem, viewState, landmarks, weights, residual);
        }
    }

    private sealed class CheckedFft(IFft2D inner, CancellationToken cancel) : IFft2D
    {
        public string Name => inner.Name;

        public void Forward(ReadOnlySpan<float> real, int nx, int ny, int batch, Span<float> spectrum)
        {
            cancel.ThrowIfCancellationRequested();
            inner.Forward(real, nx, ny, batch, spectrum);
        }

        public void Inverse(ReadOnlySpan<float> spectrum, int nx, int ny, int batch, Span<float> real)
        {
            cancel.ThrowIfCancellationRequested();
            inner.Inverse(spectrum, nx, ny, batch, real);
        }
    }

    private sealed class CheckedPairCorrelator(IPairCorrelator inner, CancellationToken cancel) : IPairCorrelator
    {
        public CorrelationPeak[] Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<ViewStatistics> statistics,
            ReadOnlySpan<CorrelationPair> pairs, CorrelationSettings settings)
        {
            cancel.ThrowIfCancellationRequested();
            return inner.Correlate(views, nx, ny, nz, statistics, pairs, settings);
        }
    }

    private sealed class CheckedBackprojector(IBackprojector inner, CancellationToken token) : IBackprojector
    {
        public void Backproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines, ReadOnlySpan<float> weights,
            SlabGeometry geometry, Span<float> slab)
        {
            token.ThrowIfCancellationRequested();
            inner.Backproject(projections, cosines, sines, weights, geometry, slab);
        }

        public void Project(ReadOnlySpan<float> slab, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines, SlabGeometry geometry, Span<float> projections)
        {
            token.ThrowIfCancellationRequested();
            inner.Project(slab, cosines, sines, geometry, projections);
        }

        public void FilterBackproject(ReadOnlySpan<float> projections, ReadOnlySpan<float> filter, int pad, ReadOnlySpan<float> cosines,
            ReadOnlySpan<float> sines, ReadOnlySpan<float> weights, SlabGeometry geometry, Span<float> slab)
        {
            token.ThrowIfCancellationRequested();
            inner.FilterBackproject(projections, filter, pad, cosines, sines, weights, geometry, slab);
        }

        public void Sirt(ReadOnlySpan<float> projections, ReadOnlySpan<float> cosines, ReadOnlySpan<float> sines, SlabGeometry geometry,
            SirtSettings settings, Span<float> slab, Action<int>? iterationDone = null, CancellationToken cancel = default)
        {
            token.ThrowIfCancellationRequested();
            // The caller's token is checked by the backend before each iteration, this wrapper's after each.
            inner.Sirt(projections, cosines, sines, geometry, settings, slab, it =>
            {
                iterationDone?.Invoke(it);
                token.ThrowIfCancellationRequested();
            }, cancel);
        }
    }

    private sealed class CheckedTemplateCorrelator(ITemplateCorrelator inner, CancellationToken cancel) : ITemplateCorrelator
    {
        public void Correlate(ReadOnlySpan<float> views, int nx, int ny, int nz, ReadOnlySpan<float> template, int size, Span<float> output)
        {
            cancel.ThrowIfCancellationRequested();
            inner.Correlate(views, nx, ny, nz, template, size, output);
        }
    }
}
