using System.Globalization;
using Tomalign.Core.Formats;
using Tomalign.Core.Imaging;

namespace Tomalign.Core.Pipeline;

/// <summary>Reads a raw tilt series and its angles, checked: one angle per view, tilts within ±90°, no NaN or infinite pixel.</summary>
public static class TiltSeriesReader
{
    /// <summary>The stack's size (from its header) and its angles, one per view, each a tilt between −90° and 90°.</summary>
    public static (int Nx, int Ny, int Nz, double[] Tilts) ReadHeaderAndAngles(string stackPath, string anglesPath)
    {
        using var reader = MrcReader.Open(stackPath);
        return (reader.Nx, reader.Ny, reader.Nz, ReadAngles(anglesPath, stackPath, reader.Nz));
    }

    private static double[] ReadAngles(string anglesPath, string stackPath, int views)
    {
        var tilts = TiltSeriesFiles.ReadAnglesFor(anglesPath, stackPath, views);
        for (int i = 0; i < tilts.Length; i++)
            if (Math.Abs(tilts[i]) >= 90)
                throw new TomalignInputException(anglesPath, $"the angle of view {i} is {tilts[i].ToString("G6", CultureInfo.InvariantCulture)}°, not a tilt between −90° and 90°",
                    "give the tilt of every view in degrees");
        return tilts;
    }

    /// <summary>
    /// Reads a raw stack view by view (with progress) and its angle file, one angle per view; a
    /// NaN or infinite pixel is an input error naming the first bad view.
    /// </summary>
    public static (ImageStack Stack, double[] Tilts) Read(string stackPath, string anglesPath, IProgress<double>? progress, CancellationToken cancel) =>
        Read(stackPath, anglesPath, null, progress, cancel, null);

    /// <summary>
    /// Reads a raw stack view by view (with progress) and its angles: from <paramref name="anglesPath"/> when given, else from
    /// <paramref name="mdocPath"/>, an mdoc beside the stack or the MRC extended header (<see cref="SeriesMetadata.Resolve"/>).
    /// A NaN or infinite pixel is an input error naming the first bad view. <paramref name="warn"/> hears when the header's
    /// minimum, maximum and mean contradict the data as read (e.g. mode-0 bytes read with the other signedness).
    /// </summary>
    public static (ImageStack Stack, double[] Tilts) Read(string stackPath, string? anglesPath, string? mdocPath, IProgress<double>? progress,
        CancellationToken cancel, Action<string>? warn)
    {
        using var reader = MrcReader.Open(stackPath);
        double[] tilts;
        if (string.IsNullOrWhiteSpace(anglesPath))
        {
            var meta = SeriesMetadata.Resolve(stackPath, null, mdocPath, reader.Nz);
            foreach (var w in meta.Warnings) warn?.Invoke(w);
            tilts = meta.Tilts;
        }
        else tilts = ReadAngles(anglesPath, stackPath, reader.Nz);
        var data = new ImageStack(reader.Nx, reader.Ny, reader.Nz);
        var stats = PixelStatsAccumulator.Create();
        for (int z = 0; z < reader.Nz; z++)
        {
            cancel.ThrowIfCancellationRequested();
            var view = data.View(z);
            reader.ReadSection(z, view);
            int bad = 0;
            foreach (float v in view)
                if (!float.IsFinite(v)) bad++;
            if (bad > 0)
                throw new TomalignInputException(stackPath, $"view {z} has {bad} NaN or infinite pixels",
                    "replace them first (e.g. IMOD ccderaser or clip), or drop the view from the stack and its angle file");
            stats.Add(view);
            progress?.Report((z + 1.0) / reader.Nz);
        }
        if (warn is not null && reader.Header.StatisticsContradiction(stats.Result, stackPath) is { } contradiction) warn(contradiction);
        return (data, tilts);
    }
}
