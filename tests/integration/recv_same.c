/*
 * The receive calls' results, printed: run with and without the shim, the two outputs must be the
 * same (test_core.test_receive_calls_as_without_the_shim).  One case per argument: read0,
 * errno_kept, cmsg, optlen, strip, v6, name, dup, inherit, mmsg, bigctl, dupopt, nullptr, sendmmsg
 * (the last also impaired), trunc, peekoff, badiov.  Nothing printed depends on ports or time.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/wait.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static void onalrm(int s){(void)s;}
static void set_alarm_handler(int restart){struct sigaction sa;memset(&sa,0,sizeof sa);sa.sa_handler=onalrm;sa.sa_flags=restart?SA_RESTART:0;sigaction(SIGALRM,&sa,NULL);}
static int udp4(const char *ip){int s=socket(AF_INET,SOCK_DGRAM,0);struct sockaddr_in a={.sin_family=AF_INET};inet_pton(AF_INET,ip,&a.sin_addr);if(bind(s,(void*)&a,sizeof a))perror("bind");return s;}
static struct sockaddr_in addr_of(int s){struct sockaddr_in a;socklen_t l=sizeof a;getsockname(s,(void*)&a,&l);if(a.sin_addr.s_addr==0)a.sin_addr.s_addr=htonl(INADDR_LOOPBACK);return a;}
static void send_to(int from,int to,const char *msg){struct sockaddr_in a=addr_of(to);if(sendto(from,msg,strlen(msg),0,(void*)&a,sizeof a)<0)perror("sendto");usleep(20000);}
#define REP(...) do{printf(__VA_ARGS__);fflush(stdout);}while(0)

/* ---- read0 ---- */
/* each case on a fresh socket with one datagram queued; alarm(1) guards blocking */
static int case_read0(void){
  set_alarm_handler(0);
  char buf[100]; static struct iovec many[1025]; for(int i=0;i<1025;i++){many[i].iov_base=buf;many[i].iov_len=1;}
  for (int bindany=0; bindany<2; bindany++) for (int c=0;c<4;c++){
    int r=udp4(bindany?"0.0.0.0":"127.0.0.1"), s=udp4("127.0.0.1");
    struct iovec iv={buf,0}; ssize_t n; int e; double t;
    const char *nm[]={"read(fd,buf,0)","readv(fd,iov,0)","readv(fd,{len 0},1)","readv(fd,iov,1025)"};
    /* empty socket first */
    alarm(1); t=now(); errno=0;
    n = c==0?read(r,buf,0): c==1?readv(r,&iv,0): c==2?readv(r,&iv,1): readv(r,many,1025); e=errno; alarm(0);
    REP("[%s] empty socket: %s = %zd errno=%d blocked=%d\n", bindany?"0.0.0.0":"127.0.0.1", nm[c], n, n<0?e:0, now()-t>0.5);
    send_to(s,r,"hello");
    alarm(1); errno=0;
    n = c==0?read(r,buf,0): c==1?readv(r,&iv,0): c==2?readv(r,&iv,1): readv(r,many,1025); e=errno; alarm(0);
    ssize_t n2=recv(r,buf,sizeof buf,MSG_DONTWAIT);
    REP("[%s] 1 queued:     %s = %zd errno=%d; datagram still there: %d\n", bindany?"0.0.0.0":"127.0.0.1", nm[c], n, n<0?e:0, n2==5);
    close(r); close(s);
  }
  return 0;
}

/* ---- errno_kept ---- */
static int case_errno_kept(void){
  char buf[100]; int p[2]; pipe(p); write(p[1],"x",1);
  errno=12345; ssize_t n=read(p[0],buf,1); REP("pipe read=%zd errno=%d\n",n,errno);
  write(p[1],"x",1);
  errno=12345; n=read(p[0],buf,1); REP("pipe read again=%zd errno=%d\n",n,errno);
  int f=open("/etc/hostname",O_RDONLY);
  errno=12345; n=read(f,buf,1); REP("file read=%zd errno=%d\n",n,errno); close(f);
  f=open("/etc/hostname",O_RDONLY); struct iovec iv={buf,1};
  errno=12345; n=readv(f,&iv,1); REP("file readv=%zd errno=%d\n",n,errno); close(f);
  /* a UDP socket the shim did not see created (as inherited, or from a raw syscall) */
  int r=syscall(SYS_socket,AF_INET,SOCK_DGRAM,0);
  struct sockaddr_in a={.sin_family=AF_INET}; a.sin_addr.s_addr=htonl(INADDR_LOOPBACK);
  syscall(SYS_bind,r,&a,sizeof a);
  int s=udp4("127.0.0.1");
  send_to(s,r,"hello");
  errno=12345; n=recv(r,buf,sizeof buf,0); REP("unseen unconnected udp recv=%zd errno=%d\n",n,errno);
  send_to(s,r,"hello");
  errno=12345; n=recv(r,buf,sizeof buf,0); REP("same again recv=%zd errno=%d\n",n,errno);
  int t=syscall(SYS_socket,AF_INET,SOCK_DGRAM,0);
  syscall(SYS_bind,t,&a,sizeof a);
  send_to(s,t,"hello");
  errno=12345; n=read(t,buf,sizeof buf); REP("unseen udp read=%zd errno=%d\n",n,errno);
  int u=syscall(SYS_socket,AF_INET,SOCK_DGRAM,0);
  struct sockaddr_in d=addr_of(r);
  errno=12345; n=sendto(u,"x",1,0,(void*)&d,sizeof d); REP("unseen udp sendto=%zd errno=%d\n",n,errno);
  errno=12345; n=recv(r,buf,sizeof buf,0); REP("recv=%zd errno=%d\n",n,errno);
  /* seen sockets */
  send_to(s,r,"hello");
  errno=12345; n=recvfrom(r,buf,sizeof buf,0,NULL,NULL); REP("recvfrom=%zd errno=%d\n",n,errno);
  errno=12345; n=sendto(s,"x",1,0,(void*)&d,sizeof d); REP("sendto=%zd errno=%d\n",n,errno);
  struct msghdr m={0}; struct iovec v={buf,sizeof buf}; m.msg_iov=&v;m.msg_iovlen=1;
  errno=12345; n=recvmsg(r,&m,0); REP("recvmsg=%zd errno=%d\n",n,errno);
  return 0;
}

/* ---- cmsg ---- */
static void dump_cmsg(const char *what, struct msghdr *m, ssize_t n, size_t ctlbuf){
  REP("%s: r=%zd flags=0x%x controllen=%zu", what, n, m->msg_flags, (size_t)m->msg_controllen);
  unsigned char *b=m->msg_control; size_t off=0;
  while (b && off+sizeof(struct cmsghdr) <= m->msg_controllen){
    struct cmsghdr c; memcpy(&c,b+off,sizeof c);
    REP(" [len=%zu lvl=%d type=%d]", (size_t)c.cmsg_len, c.cmsg_level, c.cmsg_type);
    if (c.cmsg_len < sizeof c) break;
    off += CMSG_ALIGN(c.cmsg_len);
  }
  /* untouched tail bytes */
  size_t k=0; if (b) for (size_t i=m->msg_controllen;i<ctlbuf;i++) if (b[i]!=0xAA) k++;
  REP(" dirtypast=%zu\n",k);
}
static int case_cmsg(void){
  const char *binds[]={"127.0.0.1","0.0.0.0"};
  for (int bi=0;bi<2;bi++) for (int opt=0;opt<3;opt++){
    int r=udp4(binds[bi]), s=udp4("127.0.0.1"), one=1;
    if (opt==0) setsockopt(r,SOL_SOCKET,SO_TIMESTAMP,&one,sizeof one);
    if (opt==1){ setsockopt(r,IPPROTO_IP,IP_RECVTTL,&one,sizeof one); setsockopt(r,IPPROTO_IP,IP_RECVTOS,&one,sizeof one);}
    if (opt==2){ setsockopt(r,IPPROTO_IP,IP_PKTINFO,&one,sizeof one); setsockopt(r,IPPROTO_IP,IP_RECVTTL,&one,sizeof one);}
    REP("== bind %s opt %d\n",binds[bi],opt);
    size_t sizes[]={0,8,15,16,17,20,24,28,31,32,40,48,56,64,200};
    for (unsigned i=0;i<sizeof sizes/sizeof *sizes;i++){
      send_to(s,r,"hello");
      unsigned char ctl[256]; memset(ctl,0xAA,sizeof ctl);
      char buf[64]; struct iovec v={buf,sizeof buf}; struct sockaddr_in from;
      struct msghdr m={.msg_name=&from,.msg_namelen=sizeof from,.msg_iov=&v,.msg_iovlen=1,.msg_control=ctl,.msg_controllen=sizes[i]};
      ssize_t n=recvmsg(r,&m,0);
      char w[32]; snprintf(w,sizeof w,"ctl %zu",sizes[i]); dump_cmsg(w,&m,n,sizeof ctl);
    }
    send_to(s,r,"hello");
    { char buf[64]; struct iovec v={buf,sizeof buf};
      struct msghdr m={.msg_iov=&v,.msg_iovlen=1,.msg_control=NULL,.msg_controllen=100};
      ssize_t n=recvmsg(r,&m,0); dump_cmsg("NULL ctl len100",&m,n,0);}
    close(r); close(s);
  }
  return 0;
}

/* ---- optlen ---- */
static int case_optlen(void){
  for (int len=1; len<=4; len++){
    int r=udp4("0.0.0.0"), s=udp4("127.0.0.1"); int one=1;
    if (setsockopt(r,IPPROTO_IP,IP_PKTINFO,&one,len)) perror("setsockopt");
    send_to(s,r,"hello");
    char buf[64], ctl[256]; struct iovec v={buf,sizeof buf};
    struct msghdr m={.msg_iov=&v,.msg_iovlen=1,.msg_control=ctl,.msg_controllen=sizeof ctl};
    ssize_t n=recvmsg(r,&m,0);
    REP("IP_PKTINFO=1 with optlen %d: r=%zd controllen=%zu:",len,n,(size_t)m.msg_controllen);
    for (struct cmsghdr *c=CMSG_FIRSTHDR(&m); c; c=CMSG_NXTHDR(&m,c)) REP(" (%d,%d)",c->cmsg_level,c->cmsg_type);
    REP("\n"); close(r); close(s);
  }
  return 0;
}

/* ---- strip ---- */
static void list_cmsgs(const char *w, struct msghdr *m, ssize_t n){
  REP("%s: r=%zd flags=0x%x controllen=%zu:", w, n, m->msg_flags, (size_t)m->msg_controllen);
  for (struct cmsghdr *c=CMSG_FIRSTHDR(m); c; c=CMSG_NXTHDR(m,c)) REP(" (%d,%d,len%zu)", c->cmsg_level,c->cmsg_type,(size_t)c->cmsg_len);
  REP("\n");
}
static int case_strip(void){
  int r=udp4("0.0.0.0"), s=udp4("127.0.0.1"), one=1;
  setsockopt(r,IPPROTO_IP,IP_RECVOPTS,&one,sizeof one);
  setsockopt(r,IPPROTO_IP,IP_RECVORIGDSTADDR,&one,sizeof one);
  unsigned char opts[40]; memset(opts,1,sizeof opts);
  if (setsockopt(s,IPPROTO_IP,IP_OPTIONS,opts,sizeof opts)) perror("IP_OPTIONS");
  static unsigned char big[9000], small[512];
  for (int i=0;i<2;i++){
    send_to(s,r,"hello");
    char buf[64]; struct iovec v={buf,sizeof buf};
    memset(big,0,sizeof big); memset(small,0,sizeof small);
    struct msghdr m={.msg_iov=&v,.msg_iovlen=1,.msg_control=i?big:small,.msg_controllen=i?sizeof big:sizeof small};
    ssize_t n=recvmsg(r,&m,0); list_cmsgs(i?"ctl 9000":"ctl 512",&m,n);
  }
  return 0;
}

/* ---- v6 ---- */
static int udp6any(void){int s=socket(AF_INET6,SOCK_DGRAM,0);int z=0;setsockopt(s,IPPROTO_IPV6,IPV6_V6ONLY,&z,sizeof z);struct sockaddr_in6 a={.sin6_family=AF_INET6,.sin6_addr=IN6ADDR_ANY_INIT};bind(s,(void*)&a,sizeof a);return s;}
static int port6(int s){struct sockaddr_in6 a;socklen_t l=sizeof a;getsockname(s,(void*)&a,&l);return ntohs(a.sin6_port);}
static int case_v6(void){
  for (int mode=0;mode<4;mode++){
    int r=udp6any(), one=1;
    const char *desc[]={"none","IP_PKTINFO(level IP)","IPV6_RECVPKTINFO","IP_RECVTOS(level IP)"};
    if (mode==1) setsockopt(r,IPPROTO_IP,IP_PKTINFO,&one,sizeof one);
    if (mode==2) setsockopt(r,IPPROTO_IPV6,IPV6_RECVPKTINFO,&one,sizeof one);
    if (mode==3) setsockopt(r,IPPROTO_IP,IP_RECVTOS,&one,sizeof one);
    /* (getsockopt would show the option the shim enables: README says so.) */
    REP("== v6 wildcard, program set %s\n",desc[mode]);
    int s6=socket(AF_INET6,SOCK_DGRAM,0); struct sockaddr_in6 d6={.sin6_family=AF_INET6,.sin6_addr=IN6ADDR_LOOPBACK_INIT,.sin6_port=htons(port6(r))};
    int s4=socket(AF_INET,SOCK_DGRAM,0); struct sockaddr_in d4={.sin_family=AF_INET,.sin_port=htons(port6(r))}; d4.sin_addr.s_addr=htonl(INADDR_LOOPBACK);
    for (int k=0;k<2;k++){
      if (k==0) sendto(s6,"hi",2,0,(void*)&d6,sizeof d6); else sendto(s4,"hi",2,0,(void*)&d4,sizeof d4);
      usleep(20000);
      char buf[64], ctl[512]; struct iovec iv={buf,sizeof buf}; struct sockaddr_in6 from;
      struct msghdr m={.msg_name=&from,.msg_namelen=sizeof from,.msg_iov=&iv,.msg_iovlen=1,.msg_control=ctl,.msg_controllen=sizeof ctl};
      ssize_t n=recvmsg(r,&m,0); list_cmsgs(k?" from 127.0.0.1":" from ::1",&m,n);
    }
    close(r); close(s4); close(s6);
  }
  return 0;
}

/* ---- name ---- */
static int case_name(void){
  const char *binds[]={"127.0.0.1","0.0.0.0"};
  for (int bi=0;bi<2;bi++){
    int r=udp4(binds[bi]), s=udp4("127.0.0.1"); char buf[64];
    REP("== bind %s\n",binds[bi]);
    struct sockaddr_in from; memset(&from,0xAA,sizeof from);
    send_to(s,r,"hello");
    errno=0; ssize_t n=recvfrom(r,buf,sizeof buf,0,(void*)&from,NULL); int e=errno;
    REP("recvfrom(from,NULL len)=%zd errno=%d\n",n,n<0?e:0);
    n=recv(r,buf,sizeof buf,MSG_DONTWAIT); REP("  then DONTWAIT recv=%zd\n",n);
    send_to(s,r,"hello");
    struct iovec iv={buf,sizeof buf};
    struct msghdr m={.msg_name=&from,.msg_namelen=(socklen_t)-1,.msg_iov=&iv,.msg_iovlen=1};
    errno=0; n=recvmsg(r,&m,0); e=errno; REP("recvmsg namelen=-1: %zd errno=%d namelen=%u\n",n,n<0?e:0,m.msg_namelen);
    n=recv(r,buf,sizeof buf,MSG_DONTWAIT); REP("  then DONTWAIT recv=%zd\n",n);
    send_to(s,r,"hello");
    socklen_t fl=(socklen_t)-1;
    errno=0; n=recvfrom(r,buf,sizeof buf,0,(void*)&from,&fl); e=errno; REP("recvfrom fromlen=-1: %zd errno=%d fl=%u\n",n,n<0?e:0,fl);
    n=recv(r,buf,sizeof buf,MSG_DONTWAIT); REP("  then DONTWAIT recv=%zd\n",n);
    send_to(s,r,"hello");
    fl=4; memset(&from,0xAA,sizeof from);
    n=recvfrom(r,buf,sizeof buf,0,(void*)&from,&fl); REP("recvfrom fromlen=4: %zd fl=%u fam=%d port_untouched=%d\n",n,fl,from.sin_family,from.sin_port==0xAAAA);
    send_to(s,r,"hello");
    memset(&from,0xAA,sizeof from); m.msg_namelen=4; m.msg_controllen=0; m.msg_control=NULL;
    n=recvmsg(r,&m,0); REP("recvmsg namelen=4: %zd nl=%u fam=%d port_untouched=%d flags=%x\n",n,m.msg_namelen,from.sin_family,from.sin_port==0xAAAA,m.msg_flags);
    send_to(s,r,"hello");
    m.msg_name=NULL; m.msg_namelen=77;
    n=recvmsg(r,&m,0); REP("recvmsg name NULL namelen=77: %zd nl=%u\n",n,m.msg_namelen);
    close(r); close(s);
  }
  return 0;
}

/* ---- dup: the program's IP_PKTINFO, set before or after bind, on a dup of the socket ---- */
static int case_dup(void){
  for (int order=0; order<2; order++){
    int r=socket(AF_INET,SOCK_DGRAM,0), one=1;
    struct sockaddr_in a={.sin_family=AF_INET};
    if (order==0){ setsockopt(r,IPPROTO_IP,IP_PKTINFO,&one,sizeof one); bind(r,(void*)&a,sizeof a);}
    else { bind(r,(void*)&a,sizeof a); setsockopt(r,IPPROTO_IP,IP_PKTINFO,&one,sizeof one);}
    int d=dup(r), s=udp4("127.0.0.1");
    for (int i=0;i<2;i++){
      int fd=i?d:r;
      send_to(s,r,"hello");
      char buf[64], ctl[256]; struct iovec v={buf,sizeof buf}; struct sockaddr_in from;
      struct msghdr m={.msg_name=&from,.msg_namelen=sizeof from,.msg_iov=&v,.msg_iovlen=1,.msg_control=ctl,.msg_controllen=sizeof ctl};
      ssize_t n=recvmsg(fd,&m,0); char w[64]; snprintf(w,sizeof w,"%s, recvmsg on %s",order?"bind then PKTINFO":"PKTINFO then bind",i?"dup":"orig"); list_cmsgs(w,&m,n);
    }
    close(r); close(d); close(s);
  }
  return 0;
}

/* ---- inherit: a wildcard socket with the program's IP_PKTINFO, across exec ---- */
static int case_inherited(int r){
  int s=udp4("127.0.0.1");
  for (int i=0;i<2;i++){
    send_to(s,r,"hello");
    char buf[64], ctl[256]; struct iovec v={buf,sizeof buf}; struct sockaddr_in from;
    struct msghdr m={.msg_name=&from,.msg_namelen=sizeof from,.msg_iov=&v,.msg_iovlen=1,.msg_control=ctl,.msg_controllen=sizeof ctl};
    errno=12345; ssize_t n=recvmsg(r,&m,0); int e=errno; list_cmsgs("inherited wildcard socket with the program's IP_PKTINFO",&m,n); REP("  errno=%d\n",e);
  }
  return 0;
}
static int case_inherit(void){
  int r=udp4("0.0.0.0"), one=1;
  setsockopt(r,IPPROTO_IP,IP_PKTINFO,&one,sizeof one);
  char a[16]; snprintf(a,sizeof a,"%d",r);
  execl("/proc/self/exe","recv_same","inherited",a,(char*)NULL); perror("exec"); return 1;
}

/* ---- mmsg: recvmmsg on a wildcard socket (our packet info added): the kernel's 1024-message
 * cap, one control buffer over 8 KiB beside a small one, a negative name length ---- */
static unsigned sum_bytes(const unsigned char *p, size_t n){unsigned h=0;for(size_t i=0;i<n;i++)h=h*31+p[i];return h;}
static int case_mmsg(void){
  char b[8][64];
  { int r=udp4("0.0.0.0"), s=udp4("127.0.0.1"); for (int i=0;i<3;i++) send_to(s,r,"many");
    int n=1100; struct mmsghdr *v=calloc(n,sizeof *v); struct iovec *io=calloc(n,sizeof *io); char (*bb)[64]=calloc(n,64);
    for (int i=0;i<n;i++){io[i].iov_base=bb[i];io[i].iov_len=64;v[i].msg_hdr.msg_iov=&io[i];v[i].msg_hdr.msg_iovlen=1;}
    int k=recvmmsg(r,v,n,MSG_DONTWAIT,NULL); REP("1100 messages asked, no control: r=%d", k);
    for (int i=0;i<k;i++) REP(" [flags=0x%x controllen=%zu len=%u]", v[i].msg_hdr.msg_flags, (size_t)v[i].msg_hdr.msg_controllen, v[i].msg_len);
    REP("\n"); free(v); free(io); free(bb); close(r); close(s); }
  { int r=udp4("0.0.0.0"), s=udp4("127.0.0.1"), one=1; setsockopt(r,IPPROTO_IP,IP_RECVTOS,&one,sizeof one);
    send_to(s,r,"one"); send_to(s,r,"two");
    struct mmsghdr v[2]; struct iovec io[2]; static unsigned char c0[9000], c1[24]; memset(v,0,sizeof v);
    memset(c0,0xaa,sizeof c0); memset(c1,0xaa,sizeof c1);
    for (int i=0;i<2;i++){io[i].iov_base=b[i];io[i].iov_len=64;v[i].msg_hdr.msg_iov=&io[i];v[i].msg_hdr.msg_iovlen=1;}
    v[0].msg_hdr.msg_control=c0; v[0].msg_hdr.msg_controllen=sizeof c0; v[1].msg_hdr.msg_control=c1; v[1].msg_hdr.msg_controllen=sizeof c1;
    int k=recvmmsg(r,v,2,MSG_DONTWAIT,NULL);
    for (int i=0;i<k;i++){ char w[64]; snprintf(w,sizeof w,"control buffers of 9000 and 24, IP_RECVTOS, #%d",i); list_cmsgs(w,&v[i].msg_hdr,(ssize_t)v[i].msg_len); }
    REP("  bytes: %08x %08x\n", sum_bytes(c0,sizeof c0), sum_bytes(c1,sizeof c1)); close(r); close(s); }
  { int r=udp4("0.0.0.0"), s=udp4("127.0.0.1"); send_to(s,r,"neg");
    struct mmsghdr v; struct iovec io={b[0],64}; struct sockaddr_in sa; memset(&v,0,sizeof v);
    v.msg_hdr.msg_iov=&io; v.msg_hdr.msg_iovlen=1; v.msg_hdr.msg_name=&sa; v.msg_hdr.msg_namelen=(socklen_t)-1;
    errno=0; int k=recvmmsg(r,&v,1,MSG_DONTWAIT,NULL); int e=errno;
    REP("negative name length: r=%d errno=%d namelen=%d", k, e, (int)v.msg_hdr.msg_namelen);
    k=recv(r,b[1],64,MSG_DONTWAIT); REP(", then recv r=%d\n", k); close(r); close(s); }
  return 0;
}

/* ---- bigctl: recvmsg with a control buffer over 8 KiB: nothing written past what the kernel
 * says it wrote ---- */
static int case_bigctl(void){
  int r=udp4("0.0.0.0"), s=udp4("127.0.0.1"), one=1; setsockopt(r,IPPROTO_IP,IP_RECVTOS,&one,sizeof one);
  for (int i=0;i<2;i++){
    send_to(s,r,"big");
    char buf[64]; static unsigned char c[9000]; memset(c,0xaa,sizeof c); struct iovec v={buf,sizeof buf};
    struct msghdr m={.msg_iov=&v,.msg_iovlen=1,.msg_control=c,.msg_controllen=sizeof c};
    ssize_t n=recvmsg(r,&m,0); list_cmsgs("9000-byte control buffer, IP_RECVTOS",&m,n);
    REP("  bytes: %08x, first 64:", sum_bytes(c,sizeof c)); for (int j=0;j<64;j++) REP("%02x",c[j]); REP("\n");
  }
  close(r); close(s);
  return 0;
}

/* ---- dupopt: an option set through a dup reaches the original's receives (one socket) ---- */
static int case_dupopt(void){
  int r=udp4("0.0.0.0"), d=dup(r), s=udp4("127.0.0.1"), one=1, zero=0;
  for (int i=0;i<4;i++){
    if (i==1) setsockopt(d,IPPROTO_IP,IP_PKTINFO,&one,sizeof one);
    if (i==2) setsockopt(d,IPPROTO_IP,IP_RECVTTL,&one,sizeof one);
    if (i==3) setsockopt(r,IPPROTO_IP,IP_PKTINFO,&zero,sizeof zero);
    send_to(s,r,"dupopt");
    char buf[64], ctl[256]; struct iovec v={buf,sizeof buf};
    struct msghdr m={.msg_iov=&v,.msg_iovlen=1,.msg_control=ctl,.msg_controllen=sizeof ctl};
    ssize_t n=recvmsg(i%2?r:d,&m,0); char w[64]; snprintf(w,sizeof w,"step %d, recvmsg on %s",i,i%2?"orig":"dup"); list_cmsgs(w,&m,n);
  }
  close(r); close(d); close(s);
  /* A dup made before the bind: the packet info we turn on at the bind is stripped on both. */
  r=socket(AF_INET,SOCK_DGRAM,0); d=dup(r); s=udp4("127.0.0.1");
  struct sockaddr_in any={.sin_family=AF_INET}; bind(r,(void*)&any,sizeof any);
  for (int i=0;i<2;i++){
    send_to(s,r,"dupfirst");
    char buf[64], ctl[256]; struct iovec v={buf,sizeof buf};
    struct msghdr m={.msg_iov=&v,.msg_iovlen=1,.msg_control=ctl,.msg_controllen=sizeof ctl};
    ssize_t n=recvmsg(i?r:d,&m,0); char w[64]; snprintf(w,sizeof w,"dup before bind, recvmsg on %s",i?"orig":"dup"); list_cmsgs(w,&m,n);
    int on=-1; socklen_t l=sizeof on; getsockopt(i?r:d,IPPROTO_IP,IP_PKTINFO,&on,&l); REP("  IP_PKTINFO reads %d\n",on);
  }
  close(r); close(d); close(s);
  return 0;
}

/* ---- nullptr: receive calls given no header or vector: the kernel's EFAULT (in a child each) ---- */
static int case_nullptr(void){
  int u=udp4("0.0.0.0"), t=socket(AF_INET,SOCK_STREAM,0);
  void *volatile nul=NULL;      /* (a NULL the compiler does not see) */
  const char *names[]={"recvmsg udp","recvmsg tcp","readv udp","recvmmsg udp","sendmsg udp","sendmmsg udp"};
  for (int k=0;k<6;k++){
    pid_t p=fork();
    if (!p){ long r=0; errno=0;
      switch(k){case 0:r=recvmsg(u,nul,MSG_DONTWAIT);break; case 1:r=recvmsg(t,nul,MSG_DONTWAIT);break;
      case 2:r=readv(u,nul,1);break; case 3:r=recvmmsg(u,nul,1,MSG_DONTWAIT,NULL);break;
      case 4:r=sendmsg(u,nul,0);break; case 5:r=sendmmsg(u,nul,1,0);break;}
      REP("%s: r=%ld errno=%d\n",names[k],r,errno); _exit(0); }
    int st; waitpid(p,&st,0); if (WIFSIGNALED(st)) REP("%s: killed by signal %d\n",names[k],WTERMSIG(st));
  }
  return 0;
}

/* ---- sendmmsg: a partial send (the second name too short) keeps errno (run impaired too) ---- */
static int case_sendmmsg(void){
  int r=udp4("127.0.0.1"), s=udp4("127.0.0.1"); struct sockaddr_in d=addr_of(r);
  struct mmsghdr v[3]; struct iovec io={"abc",3}; memset(v,0,sizeof v);
  for (int i=0;i<3;i++){v[i].msg_hdr.msg_iov=&io;v[i].msg_hdr.msg_iovlen=1;v[i].msg_hdr.msg_name=&d;v[i].msg_hdr.msg_namelen=sizeof d;}
  v[1].msg_hdr.msg_namelen=3;
  errno=5; int k=sendmmsg(s,v,3,0); REP("partial sendmmsg: r=%d errno=%d lengths %u %u\n",k,errno,v[0].msg_len,v[1].msg_len);
  close(r); close(s);
  return 0;
}

/* ---- trunc: a datagram longer than the buffer, through each receive call, on a connected socket
 * (20 receives first: the receiving hot lane is the usual path by then) and an unconnected one;
 * the program's own MSG_TRUNC too.  Returned lengths and flags; the file shows each cut short. ---- */
static int case_trunc(void){
  for (int conn=0; conn<2; conn++){
    int r=udp4("127.0.0.1"), s=udp4("127.0.0.1"); char big[100], b[16];
    memset(big,'T',sizeof big);
    struct sockaddr_in d=addr_of(r), from; socklen_t fl;
    if (conn){ struct sockaddr_in sa=addr_of(s); connect(r,(void*)&sa,sizeof sa); }
    for (int i=0;i<20;i++){ sendto(s,"warm",4,0,(void*)&d,sizeof d); REP("%s warm %zd\n",conn?"conn":"unconn",recv(r,b,sizeof b,0)); }
    sendto(s,big,100,0,(void*)&d,sizeof d); REP("recv %zd\n",recv(r,b,10,0));
    sendto(s,big,100,0,(void*)&d,sizeof d); fl=sizeof from; REP("recvfrom %zd\n",recvfrom(r,b,10,0,(void*)&from,&fl));
    sendto(s,big,100,0,(void*)&d,sizeof d); REP("read %zd\n",read(r,b,10));
    sendto(s,big,100,0,(void*)&d,sizeof d); REP("recv MSG_TRUNC %zd\n",recv(r,b,10,MSG_TRUNC));
    struct iovec v[2]={{b,4},{b+4,6}}; struct msghdr m; memset(&m,0,sizeof m); m.msg_iov=v; m.msg_iovlen=2;
    sendto(s,big,100,0,(void*)&d,sizeof d); ssize_t n=recvmsg(r,&m,0); REP("recvmsg %zd flags %d\n",n,m.msg_flags);
    sendto(s,big,100,0,(void*)&d,sizeof d); REP("readv %zd\n",readv(r,v,2));
    struct mmsghdr mm[2]; struct iovec mv[2]={{b,10},{b+10,6}}; memset(mm,0,sizeof mm);
    for (int i=0;i<2;i++){ mm[i].msg_hdr.msg_iov=&mv[i]; mm[i].msg_hdr.msg_iovlen=1; }
    sendto(s,big,100,0,(void*)&d,sizeof d); sendto(s,"short",5,0,(void*)&d,sizeof d);
    int k=recvmmsg(r,mm,2,MSG_WAITFORONE,NULL); REP("recvmmsg %d: %u flags %d, %u flags %d\n",k,mm[0].msg_len,mm[0].msg_hdr.msg_flags,k>1?mm[1].msg_len:0,k>1?mm[1].msg_hdr.msg_flags:0);
    /* A peek with SO_PEEK_OFF: the kernel counts from the offset (MSG_TRUNC would not). */
    char pb[300]; int off=10; setsockopt(r,SOL_SOCKET,SO_PEEK_OFF,&off,sizeof off);
    sendto(s,big,100,0,(void*)&d,sizeof d); REP("peek at offset %zd\n",recv(r,pb,sizeof pb,MSG_PEEK));
    off=-1; setsockopt(r,SOL_SOCKET,SO_PEEK_OFF,&off,sizeof off); REP("then %zd\n",recv(r,pb,sizeof pb,0));
    close(r); close(s);
  }
  return 0;
}

/* ---- peekoff: SO_PEEK_OFF moves by what a receive read (the shim adds no MSG_TRUNC there) ---- */
static int case_peekoff(void){
  for (int bindany=0; bindany<2; bindany++) for (int how=0; how<4; how++){
    int r=udp4(bindany?"0.0.0.0":"127.0.0.1"), s=udp4("127.0.0.1"), off=0; char b[64]; socklen_t l=sizeof off;
    const char *nm[]={"recv","recvmsg","read","recvfrom"};
    if (setsockopt(r,SOL_SOCKET,SO_PEEK_OFF,&off,sizeof off)) perror("SO_PEEK_OFF");
    send_to(s,r,"first-datagram-of-forty-bytes-xxxxxxxxx"); send_to(s,r,"second-datagram-xxxx");
    for (int k=0;k<3;k++){ ssize_t n=recv(r,b,8,MSG_PEEK|MSG_DONTWAIT); REP("peek %zd\n",n); }
    struct iovec v={b,8}; struct msghdr m={.msg_iov=&v,.msg_iovlen=1}; struct sockaddr_in a; socklen_t al=sizeof a;
    ssize_t n = how==0?recv(r,b,8,0): how==1?recvmsg(r,&m,0): how==2?read(r,b,8): recvfrom(r,b,8,0,(void*)&a,&al);
    getsockopt(r,SOL_SOCKET,SO_PEEK_OFF,&off,&l);
    REP("[%s] %s -> %zd, SO_PEEK_OFF %d\n", bindany?"0.0.0.0":"127.0.0.1", nm[how], n, off);
    n=recv(r,b,sizeof b,MSG_PEEK|MSG_DONTWAIT); REP("peek after: %zd '%.*s'\n", n, n>0?(int)n:0, b);
    close(r); close(s);
  }
  return 0;
}

/* ---- badiov: a vector the kernel refuses unread (too many iovecs): its error, not a crash ---- */
static int case_badiov(void){
  int u=udp4("0.0.0.0"), c=udp4("127.0.0.1"), t=socket(AF_INET,SOCK_STREAM,0); char b[16];
  struct sockaddr_in a=addr_of(u); if (connect(c,(void*)&a,sizeof a)) perror("connect");
  const char *names[]={"recvmsg wildcard udp","recvmsg connected udp","recvmsg tcp"};
  int fds[]={u,c,t};
  for (int k=0;k<3;k++){
    pid_t p=fork();
    if (!p){ struct iovec v={b,sizeof b}; struct msghdr m={.msg_iov=&v,.msg_iovlen=(size_t)1<<40};
      errno=0; long r=recvmsg(fds[k],&m,MSG_DONTWAIT); REP("%s, 2^40 iovecs: r=%ld errno=%d\n",names[k],r,errno);
      m.msg_iovlen=1025; errno=0; r=recvmsg(fds[k],&m,MSG_DONTWAIT); REP("%s, 1025 iovecs: r=%ld errno=%d\n",names[k],r,errno);
      _exit(0); }
    int st; waitpid(p,&st,0); if (WIFSIGNALED(st)) REP("%s: killed by signal %d\n",names[k],WTERMSIG(st));
  }
  return 0;
}

static const struct {
	const char *name;
	int (*run)(void);
} cases[] = {
	{ "read0", case_read0 }, { "errno_kept", case_errno_kept }, { "cmsg", case_cmsg },
	{ "optlen", case_optlen }, { "strip", case_strip }, { "v6", case_v6 }, { "name", case_name },
	{ "dup", case_dup }, { "inherit", case_inherit }, { "mmsg", case_mmsg }, { "bigctl", case_bigctl },
	{ "dupopt", case_dupopt }, { "nullptr", case_nullptr }, { "sendmmsg", case_sendmmsg },
	{ "trunc", case_trunc }, { "peekoff", case_peekoff }, { "badiov", case_badiov },
};

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 3 && !strcmp(argv[1], "inherited"))
		return case_inherited(atoi(argv[2]));
	for (size_t i = 0; argc == 2 && i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(argv[1], cases[i].name))
			return cases[i].run();
	return 2;
}
