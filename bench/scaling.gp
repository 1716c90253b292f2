# SPDX-License-Identifier: ISC
# gnuplot -e "dat='scaling.dat'; out='scaling.png'" bench/scaling.gp
set terminal pngcairo size 1100,450 font ",10" noenhanced
set output out
set multiplot layout 1,2 title "dwell vs dtach, tmux, screen (one run; see RESULTS.md)"
set logscale x
set logscale y
set grid
set key top left
set xlabel "N sessions"
set ylabel "PSS per idle session, shell excluded (KiB)"
set title "Memory per session"
plot dat using 1:2 with linespoints lw 2 title "dwell (monitor+worker)", \
     dat using 1:3 with linespoints title "dtach", \
     dat using 1:4 with linespoints title "tmux (server/N)", \
     dat using 1:5 with linespoints title "screen"
set ylabel "time to create N sessions one after another (s)"
set title "Creating N sessions"
plot dat using 1:6 with linespoints lw 2 title "dwell new", \
     dat using 1:7 with linespoints title "dtach -n", \
     dat using 1:8 with linespoints title "tmux new-session -d", \
     dat using 1:9 with linespoints title "screen -dmS"
unset multiplot
